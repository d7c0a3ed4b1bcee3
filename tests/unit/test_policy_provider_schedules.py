"""Per-provider warm-up schedules (SPEC §2 ``provider_schedules``) and rule 13 (a provider
new to a Dedicated account).

A pair's limits and its warm stage come from its provider's schedule
(``Policy.schedule_for``): a slower ``microsoft`` schedule keeps the microsoft pairs
warming after the google pairs are warm.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.policy import (
    AccountState,
    DayHistory,
    Decision,
    Outcomes,
    PairDay,
    PairState,
    Policy,
    PoolIP,
    decide,
    plan_routes,
    provider_caps,
    warm_stage,
)

FAST = (40, 150, 400)
SLOW = (20, 40, 80, 150, 400)
POLICY = Policy(
    dedicated_threshold_30d=1_000,
    general_threshold_30d=100,
    min_active_days=1,
    ip_daily_capacity=1_000,
    warmup_schedule=FAST,
    provider_schedules={"microsoft": SLOW},
    expected_volume_days=3,
).validate()
V1 = replace(POLICY, warmup_rules="v1")
D0 = date(2025, 3, 1)
IP = "203.0.113.1"
MIX = {"google": 0.5, "microsoft": 0.5}


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def in_pool(management: str = "transition") -> AccountState:
    return AccountState(
        "acme",
        "us-east",
        management_type=management,  # type: ignore[arg-type]
        transition_started_on=D0,
        ips=(PoolIP(IP, D0),),
    )


def _carry(decision: Decision, today: date, total: int, mix: Mapping[str, float]) -> DayHistory:
    """The day's mail along the plan; every pair carries min(planned, limit)."""
    volumes = {p: round(total * share) for p, share in mix.items()}
    pairs: dict[tuple[str, str], PairDay] = {}
    for provider, volume in volumes.items():
        route = decision.route.route_for(provider)
        for ip in route.ips if route is not None else ():
            n = round(volume * route.dedicated_share * ip.weight) if route is not None else 0
            n = n if ip.daily_limit is None else min(n, ip.daily_limit)
            if n > 0:
                pairs[(ip.address, provider)] = PairDay(n, Outcomes(n, 0, 0, 0))
    return DayHistory(today, volumes, pairs)


def _days(policy: Policy, n: int, total: int = 1_000) -> list[Decision]:
    """``n`` daily runs of a one-IP account in Transition that sends ``total`` a day."""
    account = in_pool()
    pairs: tuple[PairState, ...] = ()
    window = [DayHistory(day(i), {p: round(total * s) for p, s in MIX.items()}, {}) for i in range(3)]
    decisions = []
    for i in range(3, 3 + n):
        decision = decide(policy, account, pairs, window, (), day(i))
        decisions.append(decision)
        account, pairs = decision.account, decision.pairs
        window.append(_carry(decision, day(i), total, MIX))
    return decisions


def _stage(decision: Decision, provider: str) -> int:
    return next(p.stage for p in decision.pairs if p.provider == provider)


def test_each_provider_warms_along_its_own_schedule() -> None:
    assert warm_stage(POLICY, "google") == 3 and warm_stage(POLICY, "microsoft") == 5
    for policy in (POLICY, V1):
        runs = _days(policy, 8, total=2_000)  # 1,000 a day each: more than every stage's limit
        first = runs[0]
        assert [ip.daily_limit for ip in first.route.providers["google"].ips] == [40]
        assert [ip.daily_limit for ip in first.route.providers["microsoft"].ips] == [20]
        google_warm = next(i for i, d in enumerate(runs) if _stage(d, "google") >= 3)
        microsoft_warm = next(i for i, d in enumerate(runs) if _stage(d, "microsoft") >= 5)
        assert microsoft_warm == google_warm + 2, policy.warmup_rules
        at = runs[google_warm]
        assert [ip.daily_limit for ip in at.route.providers["google"].ips] == [None]
        assert [ip.daily_limit for ip in at.route.providers["microsoft"].ips] == [SLOW[3]]
        assert at.account.management_type == "transition"  # microsoft still warming
        assert at.figures.ips[0].status == "in_progress"
        assert runs[microsoft_warm].account.management_type == "dedicated"


def test_the_microsoft_limit_follows_its_schedule_capped_by_its_slice() -> None:
    account = in_pool()
    for stage in range(len(SLOW) + 1):
        pairs = tuple(PairState(IP, p, stage, day(2)) for p in POLICY.mailbox_providers)
        window = [DayHistory(day(i), {"google": 5_000, "microsoft": 5_000}, {}) for i in range(3)]
        decision = decide(POLICY, account, pairs, window, (), day(3))
        (microsoft,) = decision.route.providers["microsoft"].ips
        (google,) = decision.route.providers["google"].ips
        # Each provider's slice of the 1,000 a day is 500.
        assert microsoft.daily_limit == (min(SLOW[stage], 500) if stage < len(SLOW) else None)
        assert google.daily_limit == (min(FAST[stage], 500) if stage < len(FAST) else None)


schedules = st.lists(st.integers(min_value=1, max_value=2_000), min_size=1, max_size=6).map(
    lambda xs: tuple(sorted(xs))
)


@settings(max_examples=150, deadline=None)
@given(
    default=schedules,
    own=st.dictionaries(st.sampled_from(["google", "microsoft", "yahoo", "apple", "other"]), schedules, max_size=3),
    stages=st.lists(st.dictionaries(st.sampled_from(["google", "microsoft", "yahoo"]), st.integers(0, 8)), min_size=1),
    expected=st.dictionaries(st.sampled_from(["google", "microsoft", "yahoo", "other"]), st.floats(0, 50_000)),
    dedicated=st.booleans(),
)
def test_no_pairs_limit_exceeds_its_providers_schedule(
    default: tuple[int, ...],
    own: dict[str, tuple[int, ...]],
    stages: list[dict[str, int]],
    expected: dict[str, float],
    dedicated: bool,
) -> None:
    policy = Policy(warmup_schedule=default, provider_schedules=own).validate()
    ips = [PoolIP(f"203.0.113.{i}", D0) for i in range(len(stages))]
    by_ip = {ip.address: s for ip, s in zip(ips, stages, strict=True)}
    routes = plan_routes(policy, dedicated, ips, by_ip, provider_caps(policy, expected), expected)
    for provider, route in routes.items():
        schedule = policy.schedule_for(provider)
        for ip in route.ips:
            stage = by_ip[ip.address].get(provider, 0)
            if stage < len(schedule):
                assert ip.daily_limit is not None and ip.daily_limit <= schedule[stage]
            else:
                assert ip.daily_limit is None


# Rule 13: a provider a Dedicated account starts sending to.


def _dedicated(window: list[DayHistory]) -> Decision:
    pairs = tuple(
        PairState(IP, p, warm_stage(POLICY, p) if p == "google" else 0, day(len(window) - 1))
        for p in POLICY.mailbox_providers
    )
    return decide(POLICY, in_pool("dedicated"), pairs, window, (), day(len(window)))


def test_a_provider_without_traffic_goes_to_the_shared_pool_and_the_reason_says_so() -> None:
    window = [DayHistory(day(i), {"google": 800}, {(IP, "google"): PairDay(800)}) for i in range(3)]
    decision = _dedicated(window)
    assert decision.account.management_type == "dedicated"
    assert decision.route.providers["google"].dedicated_share == 1.0
    yahoo = decision.route.providers["yahoo"]
    assert yahoo.dedicated_share == 0.0  # not overflow: the shared pool, by plan
    assert (
        "no traffic yet for microsoft, yahoo, apple, other: the shared pool takes any until the next run"
        in decision.reason
    )


def test_the_next_run_gives_a_new_provider_stage_0_pairs() -> None:
    window = [DayHistory(day(i), {"google": 800}, {(IP, "google"): PairDay(800)}) for i in range(2)]
    window.append(DayHistory(day(2), {"google": 800, "yahoo": 600}, {(IP, "google"): PairDay(800)}))
    decision = _dedicated(window)
    yahoo = decision.route.providers["yahoo"]
    assert yahoo.dedicated_share == 1.0
    assert [(ip.address, ip.daily_limit) for ip in yahoo.ips] == [(IP, FAST[0])]
    assert _stage(decision, "yahoo") == 0
    assert "new traffic for yahoo: its dedicated pairs warm up from stage 0" in decision.reason


@pytest.mark.parametrize("yahoo", [1, 600])
def test_a_warm_pair_of_a_provider_still_takes_its_mail(yahoo: int) -> None:
    pairs = tuple(PairState(IP, p, warm_stage(POLICY, p), day(2)) for p in POLICY.mailbox_providers)
    window = [DayHistory(day(i), {"google": 800, "yahoo": yahoo}, {(IP, "google"): PairDay(800)}) for i in range(3)]
    decision = decide(POLICY, in_pool("dedicated"), pairs, window, (), day(3))
    assert decision.route.providers["yahoo"].dedicated_share == 1.0
