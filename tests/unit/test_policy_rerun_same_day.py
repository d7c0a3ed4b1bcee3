"""A re-run for the day an account entered Transition decides nothing new (v2 rule 4).

Found by ``test_policy_properties``: the run for day D moved a General account to
Transition with fresh stage-0 pairs whose limits already covered its demand; a second run
for D, fed the first one's output, moved it on to Dedicated. Rule 4 waits for the next day.
"""

from __future__ import annotations

from datetime import date, timedelta

from workers.policy import (
    AccountState,
    AssignIP,
    ChangeManagementType,
    DayHistory,
    PairDay,
    Policy,
    decide,
)

# Stage 0 allows 40 a day: one IP's pairs cover an account sending 30 a day to google.
POLICY = Policy(
    history_window_days=10,
    dedicated_threshold_30d=300,
    general_threshold_30d=100,
    min_active_days=3,
    ip_daily_capacity=1_000,
    warmup_schedule=(40, 150, 400),
).validate()
D = date(2025, 1, 11)
ADDRESS = "10.0.0.1"


def _history(last: date) -> list[DayHistory]:
    """30 a day to google through the general pool on the 10 days before ``last``."""
    return [DayHistory(last - timedelta(days=n), {"google": 30}) for n in range(10, 0, -1)]


def test_a_rerun_on_the_day_transition_started_does_not_go_dedicated() -> None:
    account = AccountState("acct", "r1")
    window = _history(D)
    first = decide(POLICY, account, (), window, [ADDRESS], D)
    assert first.actions == (AssignIP(ADDRESS), ChangeManagementType("general", "transition"))

    again = decide(POLICY, first.account, first.pairs, window, [], D)

    assert again.actions == ()
    assert again.account == first.account
    assert again.pairs == first.pairs
    assert again.route == first.route


def test_the_next_days_run_goes_dedicated_once_the_limits_cover_the_demand() -> None:
    first = decide(POLICY, AccountState("acct", "r1"), (), _history(D), [ADDRESS], D)
    window = [*_history(D), DayHistory(D, {"google": 30}, {(ADDRESS, "google"): PairDay(30)})]

    nxt = decide(POLICY, first.account, first.pairs, window, [], D + timedelta(days=1))

    assert nxt.actions == (ChangeManagementType("transition", "dedicated"),)
