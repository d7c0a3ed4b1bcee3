"""The words beside an account's figures (``sendingip status``, the web console) and the
rebalancer's reason for a Dedicated account with a provider still warming."""

from __future__ import annotations

from datetime import date, timedelta

from sendingip.v1 import types_pb2
from server.account_facts import dates, dedicated_ips, dedicated_ips_cell
from server.management.accounts import account_message
from workers.policy import AccountState, DayHistory, PairDay, PairState, Policy, PoolIP, decide, warm_stage
from workers.policy.warmup import PairEvent

GENERAL, TRANSITION, DEDICATED = (
    types_pb2.MANAGEMENT_TYPE_GENERAL,
    types_pb2.MANAGEMENT_TYPE_TRANSITION,
    types_pb2.MANAGEMENT_TYPE_DEDICATED,
)


def _account(management_type: int, **fields: object) -> types_pb2.Account:
    return types_pb2.Account(account_id="acme", management_type=management_type, **fields)  # type: ignore[arg-type]


def test_a_dedicated_account_says_since_when_and_when_its_transition_started() -> None:
    account = _account(DEDICATED, transition_started_on="2026-01-02", dedicated_on="2026-01-20")
    assert dates(account) == [("Dedicated since", "2026-01-20"), ("Transition started", "2026-01-02")]


def test_a_transition_says_when_it_started_and_a_general_account_says_nothing() -> None:
    assert dates(_account(TRANSITION, transition_started_on="2026-01-02")) == [("Transition started", "2026-01-02")]
    assert dates(_account(GENERAL)) == []


def test_a_general_account_needs_no_dedicated_ip() -> None:
    # required_ips is at least 1 (the size a pool would have): "0 of 1 required" on an
    # account with no volume read as a shortage.
    assert dedicated_ips(_account(GENERAL, required_ips=1)) == "none (General: the shared pool)"
    assert dedicated_ips(_account(GENERAL, required_ips=1, dedicated_ip_count=1)) == "1 (General: leaving its pool)"
    assert dedicated_ips(_account(DEDICATED, required_ips=2, dedicated_ip_count=1)) == "1 of 2 required"


def test_the_reason_names_the_one_provider_still_warming() -> None:
    """A Dedicated account's warm google pair and a new yahoo one at stage 0: the reason
    said "stage 0/30, 100.0% of the traffic", as if the whole IP were cold."""
    policy = Policy(
        dedicated_threshold_30d=1_000,
        general_threshold_30d=100,
        min_active_days=1,
        ip_daily_capacity=1_000,
        warmup_schedule=(40, 150, 400),
        expected_volume_days=3,
    ).validate()
    ip, d0 = "203.0.113.1", date(2025, 3, 1)
    window = [DayHistory(d0 + timedelta(days=i), {"google": 800}, {(ip, "google"): PairDay(800)}) for i in range(2)]
    window.append(DayHistory(d0 + timedelta(days=2), {"google": 800, "yahoo": 600}, {(ip, "google"): PairDay(800)}))
    pairs = tuple(
        PairState(ip, p, warm_stage(policy, p) if p == "google" else 0, d0 + timedelta(days=2))
        for p in policy.mailbox_providers
    )
    account = AccountState(
        "acme", "us-east", management_type="dedicated", transition_started_on=d0, ips=(PoolIP(ip, d0),)
    )
    decision = decide(policy, account, pairs, window, (), d0 + timedelta(days=3))
    clause = next(c for c in decision.reason.split("; ") if c.startswith(f"{ip} In Progress: "))
    assert clause.startswith(f"{ip} In Progress: yahoo at stage 0/3 (the other providers warm enough), planned share ")
    assert "google" not in clause


def test_a_warm_up_event_is_one_readable_line() -> None:
    """The rebalancer logged these as ``PairEvent(address='…', …, verdict='hold', …)``."""
    held = PairEvent("192.0.2.1", "google", date(2026, 3, 4), "hold", "bounce 7.1% ≥ 5%", 4)
    assert held.describe() == "warm-up of 192.0.2.1 for google on 2026-03-04: held at stage 4 (bounce 7.1% ≥ 5%)"
    back = PairEvent("192.0.2.1", "yahoo", date(2026, 3, 5), "step_back", "bounce 12.0% ≥ 10%", 3)
    assert back.describe().endswith("for yahoo on 2026-03-05: stepped back to stage 3 (bounce 12.0% ≥ 10%)")
    assert "\n" not in held.describe() and "PairEvent" not in held.describe()


def test_the_api_says_when_an_account_became_dedicated() -> None:
    row = {
        "account_id": "acme",
        "region": "us-east",
        "management_type": "dedicated",
        "transition_started_on": date(2026, 1, 2),
        "dedicated_on": date(2026, 1, 20),
        "figures": None,
        "dedicated_ip_count": 1,
        "warmup_paused": False,
        "mode": "auto",
        "reason": "",
        "rests": None,
    }
    account = account_message(row)
    assert (account.transition_started_on, account.dedicated_on) == ("2026-01-02", "2026-01-20")
    assert (
        account_message(
            {**row, "management_type": "general", "transition_started_on": None, "dedicated_on": None}
        ).dedicated_on
        == ""
    )


def test_the_tables_cell_shows_no_shortage_on_a_general_account() -> None:
    assert dedicated_ips_cell(_account(GENERAL, required_ips=1)) == "-"
    assert dedicated_ips_cell(_account(GENERAL, required_ips=1, dedicated_ip_count=2)) == "2 (leaving)"
    assert dedicated_ips_cell(_account(TRANSITION, required_ips=2, dedicated_ip_count=1), "/") == "1/2"
