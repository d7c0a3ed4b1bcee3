"""Examples for each rule of SPEC §2 (rules 1-7), one small history at a time.

Rules 2 and 4 have a v2 form (the default) and the v1 form kept behind
``warmup_rules = "v1"``; their examples say which they test (``V1`` or ``POLICY``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import pytest

from store.routing_entry import AccountRoute
from workers.policy import (
    AccountState,
    AssignIP,
    ChangeManagementType,
    DayHistory,
    Decision,
    Outcomes,
    PairDay,
    PairState,
    Policy,
    PoolIP,
    ReleaseToQuarantine,
    StartDrain,
    decide,
    required_ips,
)

POLICY = Policy()
V1 = Policy(warmup_rules="v1")
D0 = date(2025, 3, 1)
MIX = {"google": 0.5, "microsoft": 0.3, "yahoo": 0.1, "apple": 0.05, "other": 0.05}
WARM = POLICY.warm_stage


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def volumes(total: int, mix: Mapping[str, float] = MIX) -> dict[str, int]:
    return {p: round(total * share) for p, share in mix.items()}


def history(
    daily: Sequence[int],
    first: date = D0,
    mix: Mapping[str, float] = MIX,
    pairs: Mapping[int, Mapping[tuple[str, str], PairDay]] | None = None,
) -> list[DayHistory]:
    """One DayHistory per non-zero entry of ``daily``, starting at ``first``."""
    out = []
    for i, total in enumerate(daily):
        if total > 0:
            out.append(DayHistory(first + timedelta(days=i), volumes(total, mix), dict((pairs or {}).get(i, {}))))
    return out


def pairs_at(address: str, stage: int, through: date, policy: Policy = POLICY) -> tuple[PairState, ...]:
    return tuple(PairState(address, p, stage, through) for p in policy.mailbox_providers)


def sent(n: int, bounced: int = 0, complained: int = 0, deferred: int = 0) -> PairDay:
    return PairDay(n, Outcomes(n - bounced - deferred, deferred, bounced, complained))


def run(
    account: AccountState,
    window: Sequence[DayHistory],
    today: date,
    pairs: Sequence[PairState] = (),
    inventory: Sequence[str] = ("203.0.113.1", "203.0.113.2", "203.0.113.3"),
    policy: Policy = POLICY,
) -> Decision:
    return decide(policy, account, pairs, window, inventory, today)


def in_pool(*addresses: str, management: str = "transition", on: date = D0) -> AccountState:
    return AccountState(
        "acme",
        "us-east",
        management_type=management,  # type: ignore[arg-type]
        transition_started_on=on,
        ips=tuple(PoolIP(a, on) for a in addresses),
    )


GENERAL = AccountState("acme", "us-east")


# Rule 1: General → Transition, sizing, inventory.


def test_below_threshold_stays_general_and_says_why() -> None:
    decision = run(GENERAL, history([8_000] * 30), day(30))
    assert decision.account.management_type == "general"
    assert decision.actions == ()
    assert decision.route.providers == {}
    assert decision.reason == "General: volume_30d 240,000 < 250,000"


def test_threshold_with_enough_active_days_assigns_required_ips_from_the_front() -> None:
    decision = run(GENERAL, history([0] * 9 + [12_000] * 21), day(30))
    assert decision.account.management_type == "transition"
    assert decision.account.transition_started_on == day(30)
    assert decision.actions == (AssignIP("203.0.113.1"), ChangeManagementType("general", "transition"))
    assert decision.reason.startswith("volume_30d 252,000 ≥ 250,000 over 21 active days: assigned 1 IP")
    assert [ip.address for ip in decision.account.ips] == ["203.0.113.1"]
    assert {p.stage for p in decision.pairs} == {0}
    assert decision.figures.ips[0].status == "in_progress"


def test_one_blast_is_not_regular_sending() -> None:
    decision = run(GENERAL, history([0] * 23 + [50_000] * 7), day(30))
    assert decision.account.management_type == "general"
    assert "7 active days < 8" in decision.reason


def test_history_of_day_d_itself_is_not_used() -> None:
    window = history([0] * 22 + [30_000] * 9)  # the 9th day is D itself
    assert run(GENERAL, window, day(30)).account.management_type == "general"
    assert run(GENERAL, window, day(31)).account.management_type == "transition"


@pytest.mark.parametrize(
    ("peak", "expected"),
    [(1, 1), (2_500_000, 1), (2_500_001, 2), (7_400_000, 3), (10**9, 10)],
)
def test_required_ips_from_the_peak_day(peak: int, expected: int) -> None:
    assert required_ips(POLICY, peak) == expected


def test_peak_day_sizes_the_pool() -> None:
    decision = run(GENERAL, history([100_000] * 20 + [5_200_000]), day(21))
    assert decision.figures.required_ips == 3
    assert [a for a in decision.actions if isinstance(a, AssignIP)] == [
        AssignIP("203.0.113.1"),
        AssignIP("203.0.113.2"),
        AssignIP("203.0.113.3"),
    ]


def test_too_little_inventory_assigns_what_there_is_and_says_so() -> None:
    decision = run(GENERAL, history([100_000] * 20 + [5_200_000]), day(21), inventory=["203.0.113.9"])
    assert decision.account.management_type == "transition"
    assert [ip.address for ip in decision.account.ips] == ["203.0.113.9"]
    assert "inventory of us-east has 1 free IP; 3 needed" in decision.reason


def test_empty_inventory_keeps_general_and_says_so() -> None:
    decision = run(GENERAL, history([12_000] * 30), day(30), inventory=[])
    assert decision.account.management_type == "general"
    assert decision.actions == ()
    assert "inventory of us-east has 0 free IPs; 1 needed" in decision.reason


def test_transition_tops_up_when_inventory_returns() -> None:
    account = in_pool("203.0.113.9")
    window = history([100_000] * 20 + [5_200_000])
    pairs = pairs_at("203.0.113.9", 3, day(20))
    decision = run(account, window, day(21), pairs=pairs, inventory=["203.0.113.1"])
    assert AssignIP("203.0.113.1") in decision.actions
    assert "inventory of us-east has 1 free IP; 2 needed" in decision.reason


# Rule 2: warm-up stages.


def _warming(stage: int, pair_day: PairDay | None, policy: Policy = POLICY) -> Decision:
    account = in_pool("203.0.113.1")
    pairs = pairs_at("203.0.113.1", stage, day(28))
    pair_days = {29: {("203.0.113.1", "google"): pair_day}} if pair_day else {}
    return run(account, history([20_000] * 30, pairs=pair_days), day(30), pairs=pairs, policy=policy)


def _stage(decision: Decision, provider: str = "google") -> int:
    return next(p.stage for p in decision.pairs if p.provider == provider)


def test_v1_a_sending_day_advances_one_stage() -> None:
    decision = _warming(4, sent(1_000), V1)
    assert _stage(decision) == 5
    assert _stage(decision, "microsoft") == 4  # that pair did not send
    assert all(p.evaluated_through == day(29) for p in decision.pairs)


def test_v1_a_day_without_sending_does_not_count() -> None:
    assert _stage(_warming(4, None, V1)) == 4
    assert _stage(_warming(4, PairDay(0), V1)) == 4


def test_v1_several_missed_runs_count_each_sending_day_once() -> None:
    account = in_pool("203.0.113.1")
    pairs = pairs_at("203.0.113.1", 4, day(25))
    sends = {i: {("203.0.113.1", "google"): sent(100)} for i in (26, 28, 29)}
    decision = run(account, history([20_000] * 30, pairs=sends), day(30), pairs=pairs, policy=V1)
    assert _stage(decision) == 7


def test_v2_a_day_carrying_advance_fraction_of_its_limit_advances() -> None:
    # Stage 4's limit is 5,000: 90% of it is 4,500.
    decision = _warming(4, sent(4_500))
    assert _stage(decision) == 5
    assert _stage(decision, "microsoft") == 4  # carried nothing: holds
    assert all(p.evaluated_through == day(29) for p in decision.pairs)
    assert "google:" not in decision.reason


def test_v2_a_day_carrying_less_holds_and_the_reason_says_so() -> None:
    decision = _warming(4, sent(600))
    assert _stage(decision) == 4
    assert "google: carried 12% of 5,000 yesterday; holds" in decision.reason
    assert decision.events == ()  # a hold for volume is not an outcome event
    assert _stage(_warming(4, None)) == 4
    assert _stage(_warming(4, PairDay(0))) == 4


def test_v2_the_day_limit_is_the_stage_the_pair_had_that_day() -> None:
    account = in_pool("203.0.113.1")
    pairs = pairs_at("203.0.113.1", 4, day(25))
    # 5,000 then 10,000 then 20,000 are the limits of stages 4, 5, 6; day 27 carried nothing.
    sends = {
        26: {("203.0.113.1", "google"): sent(5_000)},
        28: {("203.0.113.1", "google"): sent(9_000)},
        29: {("203.0.113.1", "google"): sent(17_999)},
    }
    decision = run(account, history([40_000] * 30, pairs=sends), day(30), pairs=pairs)
    assert _stage(decision) == 6  # the last day carried 17,999 < 18,000 of 20,000
    # Read from the history alone, 17,999 would also have advanced stage 5 (10,000): the
    # reason names only holds the history proves.
    assert "google: carried" not in decision.reason
    assert "microsoft: carried 0% of 5,000 yesterday; holds" in decision.reason


def test_v2_a_pair_settled_on_its_demand_is_not_named_as_holding() -> None:
    # 20,000 a day: google's demand is 10,000; stage 6 (20,000) carries all of it.
    decision = _warming(6, sent(10_000))
    assert _stage(decision) == 6
    assert "google:" not in decision.reason


OUTCOME_CASES = [
    (sent(1_000, bounced=49), 1, None),
    (sent(1_000, bounced=50), 0, "holding warm-up of 203.0.113.1 for google: bounce 5% ≥ 5%"),
    (sent(1_000, bounced=71), 0, "holding warm-up of 203.0.113.1 for google: bounce 7.1% ≥ 5%"),
    (sent(1_000, complained=1), 0, "complaint 0.1% ≥ 0.1%"),
    (sent(1_000, deferred=200), 0, "deferral 20% ≥ 20%"),
    (sent(1_000, bounced=100), -1, "stepped back a stage: bounce 10% ≥ 10%"),
    (sent(1_000, complained=5), -1, "complaint 0.5% ≥ 0.5%"),
]


@pytest.mark.parametrize("policy", [POLICY, V1], ids=["v2", "v1"])
@pytest.mark.parametrize(("pair_day", "move", "words"), OUTCOME_CASES)
def test_outcomes_hold_or_step_back(policy: Policy, pair_day: PairDay, move: int, words: str | None) -> None:
    decision = _warming(2, pair_day, policy)  # stage 2's limit is 1,000: all of it carried
    assert _stage(decision) == 2 + move
    if words:
        assert words in decision.reason
    else:
        assert "holding" not in decision.reason


def test_v2_outcomes_step_back_whatever_the_pair_carried() -> None:
    assert _stage(_warming(4, sent(100, bounced=10))) == 3
    held = _warming(4, sent(100, bounced=5))
    assert _stage(held) == 4
    assert "bounce 5% ≥ 5%" in held.reason
    assert "google: carried" not in held.reason  # the outcomes held it, not the volume


@pytest.mark.parametrize("policy", [POLICY, V1], ids=["v2", "v1"])
def test_step_back_stops_at_stage_zero_and_warm_is_the_last_stage(policy: Policy) -> None:
    assert _stage(_warming(0, sent(1_000, bounced=200), policy)) == 0
    assert _stage(_warming(WARM, sent(1_000), policy)) == WARM


# Rule 3: the split in Transition.


def test_transition_split_is_min_one_capacity_over_expected() -> None:
    account = in_pool("203.0.113.1", "203.0.113.2")
    pairs = pairs_at("203.0.113.1", 5, day(29)) + pairs_at("203.0.113.2", 3, day(29))
    decision = run(account, history([100_000] * 30), day(30), pairs=pairs)
    google = decision.route.providers["google"]
    # E_google = 50,000; limits 10,000 (stage 5) and 2,000 (stage 3).
    assert google.dedicated_share == pytest.approx(12_000 / 50_000)
    assert [ip.weight for ip in google.ips] == pytest.approx([10_000 / 12_000, 2_000 / 12_000])
    assert [ip.daily_limit for ip in google.ips] == [10_000, 2_000]
    apple = decision.route.providers["apple"]  # E = 5,000 < 12,000: all of it
    assert apple.dedicated_share == 1.0
    assert decision.figures.dedicated_share_percent == pytest.approx(
        100 * (12_000 + 12_000 + 10_000 + 5_000 + 5_000) / 100_000
    )


def test_expected_volume_is_the_mean_of_recent_sending_days() -> None:
    weekdays = [30_000 if (D0 + timedelta(days=i)).weekday() < 5 else 0 for i in range(30)]
    decision = run(in_pool("203.0.113.1"), history(weekdays), day(30), pairs=pairs_at("203.0.113.1", 0, day(29)))
    assert decision.figures.expected_volume["google"] == pytest.approx(15_000)


def test_an_ips_limits_stay_within_its_daily_capacity() -> None:
    account = in_pool("203.0.113.1")
    pairs = pairs_at("203.0.113.1", 29, day(29))  # 2.5M per provider before the cap
    decision = run(account, history([2_400_000] * 30), day(30), pairs=pairs)
    limits = [ip.daily_limit for route in decision.route.providers.values() for ip in route.ips]
    assert sum(limit or 0 for limit in limits) <= POLICY.ip_daily_capacity
    assert decision.figures.ips[0].daily_limit <= POLICY.ip_daily_capacity


# Rule 4: Transition → Dedicated.


@pytest.mark.parametrize("policy", [POLICY, V1], ids=["v2", "v1"])
def test_dedicated_once_every_ip_is_warm_for_the_providers_that_carry_traffic(policy: Policy) -> None:
    mix = {"google": 0.7, "other": 0.3}
    account = in_pool("203.0.113.1")
    pairs = tuple(PairState("203.0.113.1", p, WARM if p in mix else 0, day(29)) for p in POLICY.mailbox_providers)
    decision = run(account, history([20_000] * 30, mix=mix), day(30), pairs=pairs, policy=policy)
    assert decision.account.management_type == "dedicated"
    assert ChangeManagementType("transition", "dedicated") in decision.actions
    assert decision.reason.startswith("every dedicated IP finished warm-up for google, other: Dedicated")
    assert decision.figures.transition_progress_percent == 100.0
    # Rule 13: the providers without traffic have no dedicated capacity: the shared pool.
    shares = {p: route.dedicated_share for p, route in decision.route.providers.items()}
    assert shares == {p: (1.0 if p in mix else 0.0) for p in POLICY.mailbox_providers}


def test_v1_one_lagging_pair_keeps_transition() -> None:
    account = in_pool("203.0.113.1")
    pairs = tuple(
        PairState("203.0.113.1", p, WARM if p != "apple" else WARM - 2, day(29)) for p in POLICY.mailbox_providers
    )
    decision = run(account, history([20_000] * 30), day(30), pairs=pairs, policy=V1)
    assert decision.account.management_type == "transition"
    assert 90 < decision.figures.transition_progress_percent < 100


def _covering(daily: Sequence[int], stage: int, policy: Policy = POLICY) -> Decision:
    """Two IPs at ``stage`` for every provider; 20,000 a day is 10,000 for google."""
    account = in_pool("203.0.113.1", "203.0.113.2")
    pairs = pairs_at("203.0.113.1", stage, day(29)) + pairs_at("203.0.113.2", stage, day(29))
    return run(account, history(daily), day(30), pairs=pairs, policy=policy)


def test_v2_dedicated_when_the_limits_cover_every_providers_peak_demand() -> None:
    # Stage 4 is 5,000 per IP: google's 10,000 a day is 5,000 per IP, inside the limit.
    decision = _covering([20_000] * 30, 4)
    assert decision.account.management_type == "dedicated"
    assert ChangeManagementType("transition", "dedicated") in decision.actions
    assert decision.reason.startswith(
        "the dedicated limits cover the demand of google, microsoft, yahoo, apple, other: Dedicated"
    )
    assert {row.status for row in decision.figures.ips} == {"active"}
    google = decision.route.providers["google"]
    assert google.dedicated_share == 1.0
    assert [ip.daily_limit for ip in google.ips] == [5_000, 5_000]  # still warming: limits stay
    assert _covering([20_000] * 30, 4, V1).account.management_type == "transition"  # v1: not warm


def test_v2_a_peak_in_the_last_7_days_above_the_limits_keeps_transition() -> None:
    peak_recent = [20_000] * 27 + [22_000] + [20_000] * 2  # google 11,000 on D-3: 5,500 per IP
    decision = _covering(peak_recent, 4)
    assert decision.account.management_type == "transition"
    assert {row.status for row in decision.figures.ips} == {"in_progress"}
    peak_older = [20_000] * 22 + [22_000] + [20_000] * 7  # on D-8: outside the last 7 days
    assert _covering(peak_older, 4).account.management_type == "dedicated"


def test_v2_one_provider_not_covered_keeps_transition_and_its_ip_in_progress() -> None:
    account = in_pool("203.0.113.1")
    pairs = tuple(PairState("203.0.113.1", p, 5 if p != "google" else 4, day(29)) for p in POLICY.mailbox_providers)
    decision = run(account, history([20_000] * 30), day(30), pairs=pairs)  # google 10,000 > 5,000
    assert decision.account.management_type == "transition"
    assert decision.figures.ips[0].status == "in_progress"
    assert decision.route.providers["google"].dedicated_share == pytest.approx(0.5)
    assert decision.route.providers["microsoft"].dedicated_share == 1.0


# Rule 5: Dedicated gains an IP that ramps "the same process".


def test_dedicated_adds_an_ip_in_progress_with_weight_by_capacity() -> None:
    account = in_pool("203.0.113.1", management="dedicated")
    pairs = pairs_at("203.0.113.1", WARM, day(29))
    decision = run(account, history([2_000_000] * 29 + [2_600_000]), day(30), pairs=pairs)
    assert decision.account.management_type == "dedicated"
    # The front of the inventory is already the pool's own address: skipped.
    assert [a for a in decision.actions if isinstance(a, AssignIP)] == [AssignIP("203.0.113.2")]
    rows = {row.address: row for row in decision.figures.ips}
    assert rows["203.0.113.2"].status == "in_progress"
    assert rows["203.0.113.1"].status == "active"
    google = decision.route.providers["google"]
    assert google.dedicated_share == 1.0
    weights = {ip.address: ip.weight for ip in google.ips}
    # Weights ∝ today's capacity: the warm IP's google slice (half of 2.5M) vs stage 0's 200.
    assert weights["203.0.113.2"] == pytest.approx(200 / (1_250_000 + 200))
    assert sum(weights.values()) == pytest.approx(1.0)


# Rule 6: scale-in, quarantine, back to General.


def _shrunk(streak: int, checked: date | None) -> Decision:
    account = dataclasses.replace(
        in_pool("203.0.113.1", "203.0.113.2", management="dedicated"),
        scale_in_streak=streak,
        scale_in_checked_on=checked,
    )
    pairs = pairs_at("203.0.113.1", WARM, day(29)) + pairs_at("203.0.113.2", WARM - 1, day(29))
    return run(account, history([1_000_000] * 30), day(30), pairs=pairs)


def test_fewer_ips_needed_counts_days_first() -> None:
    decision = _shrunk(5, day(29))
    assert decision.account.scale_in_streak == 6
    assert decision.actions == ()
    assert "needs 1 IP, pool has 2 (for 6 of 7 days before one drains)" in decision.reason


def test_after_scale_in_days_the_least_warm_ip_drains_then_goes_to_quarantine() -> None:
    decision = _shrunk(6, day(29))
    assert decision.actions == (StartDrain("203.0.113.2"),)
    drained = {ip.address: ip.draining_since for ip in decision.account.ips}
    assert drained == {"203.0.113.1": None, "203.0.113.2": day(30)}
    google = decision.route.providers["google"]
    assert {ip.address: ip.weight for ip in google.ips}["203.0.113.2"] == 0.0
    assert decision.figures.ips[1].status == "draining"
    assert decision.account.scale_in_streak == 0
    # The next day the drained IP leaves for quarantine.
    later = run(decision.account, history([1_000_000] * 31), day(31), pairs=decision.pairs)
    assert later.actions == (ReleaseToQuarantine("203.0.113.2", day(31) + timedelta(days=30)),)
    assert [ip.address for ip in later.account.ips] == ["203.0.113.1"]
    assert {p.address for p in later.pairs} == {"203.0.113.1"}


def test_need_coming_back_resets_the_streak() -> None:
    account = dataclasses.replace(
        in_pool("203.0.113.1", "203.0.113.2", management="dedicated"),
        scale_in_streak=6,
        scale_in_checked_on=day(29),
    )
    pairs = pairs_at("203.0.113.1", WARM, day(29)) + pairs_at("203.0.113.2", WARM, day(29))
    decision = run(account, history([1_000_000] * 29 + [4_000_000]), day(30), pairs=pairs)
    assert decision.actions == ()
    assert decision.account.scale_in_streak == 0


def test_hysteresis_between_the_thresholds_keeps_the_pool() -> None:
    account = in_pool("203.0.113.1", management="dedicated")
    decision = run(account, history([5_000] * 30), day(30), pairs=pairs_at("203.0.113.1", WARM, day(29)))
    assert decision.account.management_type == "dedicated"  # 150,000: under 250k, over 100k


def test_below_general_threshold_returns_to_general_and_drains_everything() -> None:
    account = in_pool("203.0.113.1", "203.0.113.2", management="dedicated")
    pairs = pairs_at("203.0.113.1", WARM, day(29)) + pairs_at("203.0.113.2", WARM, day(29))
    decision = run(account, history([3_000] * 30), day(30), pairs=pairs)
    assert decision.account.management_type == "general"
    assert decision.account.transition_started_on is None
    assert decision.actions == (
        StartDrain("203.0.113.1"),
        StartDrain("203.0.113.2"),
        ChangeManagementType("dedicated", "general"),
    )
    assert decision.route.providers == {}
    assert decision.reason.startswith("volume_30d 90,000 < 100,000: back to General, draining 2 IPs")


# Rule 7: pause and resume.


@pytest.mark.parametrize("policy", [POLICY, V1], ids=["v2", "v1"])
def test_paused_account_keeps_its_stages_and_split(policy: Policy) -> None:
    account = dataclasses.replace(in_pool("203.0.113.1"), paused=True)
    pairs = pairs_at("203.0.113.1", 6, day(28))
    carried = sent(20_000)  # stage 6's limit: all of it
    sends = {29: {("203.0.113.1", p): carried for p in POLICY.mailbox_providers}}
    decision = run(account, history([400_000] * 29 + [9_000_000], pairs=sends), day(30), pairs=pairs, policy=policy)
    assert decision.account.paused
    assert {p.stage for p in decision.pairs} == {6}
    assert decision.actions == ()  # the peak asks for 4 IPs: paused, nothing is assigned
    assert decision.reason.startswith("Transition")
    assert "warm-up paused by an operator" in decision.reason
    # Resumed: the paused days never count, later ones do.
    resumed = dataclasses.replace(decision.account, paused=False)
    sends[30] = {("203.0.113.1", p): carried for p in POLICY.mailbox_providers}
    after = run(resumed, history([400_000] * 31, pairs=sends), day(31), pairs=decision.pairs, policy=policy)
    assert {p.stage for p in after.pairs} == {7}


def test_paused_general_account_is_not_assigned() -> None:
    decision = run(dataclasses.replace(GENERAL, paused=True), history([20_000] * 30), day(30))
    assert decision.account.management_type == "general"
    assert decision.actions == ()


# Idempotency and the routing contract.


def test_a_second_run_for_the_same_day_changes_nothing() -> None:
    inventory = ["203.0.113.1", "203.0.113.2"]
    sends = {29: {("203.0.113.9", "google"): sent(100)}}
    account = in_pool("203.0.113.9")
    window = history([100_000] * 29 + [3_000_000], pairs=sends)
    first = run(account, window, day(30), pairs=pairs_at("203.0.113.9", 2, day(28)), inventory=inventory)
    assert first.actions
    left = [a for a in inventory if AssignIP(a) not in first.actions]
    second = run(first.account, window, day(30), pairs=first.pairs, inventory=left)
    assert second.actions == ()
    assert second.account == first.account
    assert second.pairs == first.pairs
    assert second.route == first.route


def test_route_round_trips_through_the_stored_json() -> None:
    account = in_pool("203.0.113.1", "203.0.113.2")
    pairs = pairs_at("203.0.113.1", 5, day(29)) + pairs_at("203.0.113.2", WARM, day(29))
    decision = run(account, history([100_000] * 30), day(30), pairs=pairs)
    assert decision.route.pool_id == "dedicated:acme"
    assert AccountRoute.from_json(decision.route.to_json()) == decision.route
    assert decision.route.route_for("comcast") == decision.route.providers["other"]
