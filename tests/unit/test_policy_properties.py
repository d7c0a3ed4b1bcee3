"""Properties of the policy over random multi-account histories (hypothesis).

A small policy (short schedule, low thresholds, small capacity) lets every rule fire
within a few dozen days: assignment, warm-up with holds and step-backs, Dedicated,
scale-out, scale-in, quarantine, the return to General, pauses. The random histories run
under the v2 warm-up rules (the default) and under v1 (``warmup_rules = "v1"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from store.routing_entry import AccountRoute
from workers.policy import (
    ALLOWED_TRANSITIONS,
    AccountState,
    AssignIP,
    DayHistory,
    Decision,
    Outcomes,
    PairDay,
    PairState,
    Policy,
    PoolIP,
    ReleaseToQuarantine,
    days_in_window,
    decide,
    judge_day,
    provider_caps,
    summarize,
)

POLICY = Policy(
    history_window_days=10,
    dedicated_threshold_30d=3_000,
    general_threshold_30d=1_000,
    min_active_days=3,
    ip_daily_capacity=1_000,
    max_ips_per_account=3,
    warmup_schedule=(40, 150, 400),
    scale_in_days=2,
    quarantine_days=3,
    expected_volume_days=3,
).validate()
V1 = replace(POLICY, warmup_rules="v1")
START = date(2025, 1, 1)
PROVIDERS = POLICY.mailbox_providers
EPS = 1e-9


@dataclass
class Account:
    state: AccountState
    volumes: list[int]
    mixes: list[dict[str, float]]
    bounces: list[float]
    pauses: list[bool]
    pairs: tuple[PairState, ...] = ()
    window: list[DayHistory] = field(default_factory=list)


accounts_strategy = st.integers(min_value=1, max_value=3)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[int, list[Account], list[str]]:
    days = draw(st.integers(min_value=5, max_value=35))
    n = draw(accounts_strategy)
    volume = st.integers(min_value=-500, max_value=3_500).map(lambda v: max(v, 0))
    mix = st.sampled_from(
        [
            {"google": 1.0},
            {"google": 0.6, "microsoft": 0.3, "other": 0.1},
            {p: 0.2 for p in PROVIDERS},
            {"yahoo": 0.5, "apple": 0.5},
        ]
    )
    accounts = []
    for i in range(n):
        accounts.append(
            Account(
                AccountState(f"acct-{i}", "r1"),
                draw(st.lists(volume, min_size=days, max_size=days)),
                draw(st.lists(mix, min_size=days, max_size=days)),
                draw(st.lists(st.sampled_from([0.0, 0.0, 0.0, 0.06, 0.12]), min_size=days, max_size=days)),
                draw(st.lists(st.sampled_from([False, False, False, False, True]), min_size=days, max_size=days)),
            )
        )
    inventory_size = draw(st.integers(min_value=0, max_value=6))
    return days, accounts, [f"10.0.0.{k}" for k in range(1, inventory_size + 1)]


def send(account: Account, index: int, today: date, route: AccountRoute) -> None:
    """The day's mail along the plan: a pair sends min(planned, limit)."""
    total = account.volumes[index]
    if total <= 0:
        return
    by_provider = {p: int(total * share) for p, share in account.mixes[index].items()}
    pairs: dict[tuple[str, str], PairDay] = {}
    for provider, volume in by_provider.items():
        provider_route = route.route_for(provider)
        if provider_route is None:
            continue
        for ip in provider_route.ips:
            n = round(volume * provider_route.dedicated_share * ip.weight)
            if ip.daily_limit is not None:
                n = min(n, ip.daily_limit)
            if n > 0:
                bounced = round(n * account.bounces[index])
                pairs[(ip.address, provider)] = PairDay(n, Outcomes(n - bounced, 0, bounced, 0))
    account.window.append(DayHistory(today, by_provider, pairs))


def check_routes(decision: Decision) -> None:
    for provider, route in decision.route.providers.items():
        assert 0.0 <= route.dedicated_share <= 1.0 + EPS
        weights = [ip.weight for ip in route.ips]
        assert all(w >= 0 for w in weights), (provider, weights)
        if any(w > 0 for w in weights):
            assert math.isclose(sum(weights), 1.0, rel_tol=1e-9), (provider, weights)
        draining = {ip.address for ip in decision.account.ips if ip.draining}
        assert all(ip.weight == 0 for ip in route.ips if ip.address in draining)


def check_warming_pairs_within_limits(decision: Decision) -> None:
    """With the day's volume equal to E_p, no warming pair is planned over its limit."""
    expected = decision.figures.expected_volume
    dedicated = decision.account.management_type == "dedicated"
    for provider, route in decision.route.providers.items():
        e = expected[provider]
        capacity = sum(ip.daily_limit if ip.daily_limit is not None else 0 for ip in route.ips)
        warm = [ip for ip in route.ips if ip.daily_limit is None and ip.weight > 0]
        if dedicated and not warm and capacity < e:
            continue  # Dedicated without a warm IP for this provider: rule 8 spreads the overflow
        for ip in route.ips:
            if ip.daily_limit is not None:
                planned = e * route.dedicated_share * ip.weight
                assert planned <= ip.daily_limit * (1 + 1e-9) + 1e-6, (provider, ip, e)


def replay_v2(
    policy: Policy, old: PairState, window: Sequence[DayHistory], today: date, cap: int
) -> tuple[int, list[tuple[date, int, int]]]:
    """Rule 2 (v2) written out again from SPEC §2: the stage the history explains, and the
    (day, carried, limit) of each advance."""
    stage, advances = old.stage, []
    schedule = policy.warmup_schedule
    for h in sorted(window, key=lambda h: h.day):
        if old.evaluated_through is None or not old.evaluated_through < h.day < today:
            continue
        pd = h.pairs.get((old.address, old.provider))
        verdict = judge_day(policy, pd.outcomes)[0] if pd is not None else "advance"
        if verdict == "step_back":
            stage = max(stage - 1, 0)
        elif verdict == "advance" and stage < len(schedule) and pd is not None:
            limit = min(schedule[stage], cap)
            if pd.sent > 0 and pd.sent >= policy.advance_fraction * limit:
                advances.append((h.day, pd.sent, limit))
                stage += 1
    return stage, advances


def check_advances_explained(
    policy: Policy, before: Mapping[tuple[str, str], PairState], decision: Decision, window: Sequence[DayHistory]
) -> None:
    """v2: every stage a pair gained is a day it carried ``advance_fraction`` of that day's
    limit, and no day under it advanced the pair."""
    today = date.fromisoformat(decision.figures.day)
    caps = provider_caps(policy, summarize(policy, days_in_window(policy, window, today)).expected)
    for pair in decision.pairs:
        old = before.get((pair.address, pair.provider))
        if old is None or old.evaluated_through is None or decision.account.paused:
            continue
        stage, advances = replay_v2(policy, old, window, today, caps[pair.provider])
        assert pair.stage == stage, (pair, old, advances)
        for _, carried, limit in advances:
            assert carried >= policy.advance_fraction * limit
        if advances:
            event("v2 advance explained by history")


def step_all(
    accounts: Sequence[Account],
    index: int,
    inventory: list[str],
    quarantine: list[tuple[date, str]],
    policy: Policy = POLICY,
) -> None:
    today = START + timedelta(days=index)
    for until, address in [q for q in quarantine if q[0] <= today]:
        quarantine.remove((until, address))
        inventory.append(address)
    owners: dict[str, str] = {}
    for account in accounts:
        for ip in account.state.ips:
            assert ip.address not in owners, f"{ip.address} in two pools"
            owners[ip.address] = account.state.account_id
    for account in accounts:
        state = replace(account.state, paused=account.pauses[index])
        before = {(p.address, p.provider): p for p in account.pairs}
        decision = decide(policy, state, account.pairs, account.window, inventory, today)

        # Management type moves only along the allowed edges.
        old, new = state.management_type, decision.account.management_type
        assert old == new or (old, new) in ALLOWED_TRANSITIONS, (old, new)
        assert decision.account.paused == state.paused

        # Assignments come from the inventory and never from another pool.
        for action in decision.actions:
            if isinstance(action, AssignIP):
                assert action.address in inventory
                assert action.address not in owners
                inventory.remove(action.address)
            elif isinstance(action, ReleaseToQuarantine):
                quarantine.append((action.until, action.address))

        # A pair's stage moves only by the days it sent (one stage per day at most).
        sends = {h.day: h.pairs for h in account.window}
        for pair in decision.pairs:
            old_pair = before.get((pair.address, pair.provider))
            if old_pair is None or old_pair.evaluated_through is None:
                continue
            days_sent = sum(
                1
                for d, pairs in sends.items()
                if old_pair.evaluated_through < d < today
                and (pd := pairs.get((pair.address, pair.provider))) is not None
                and pd.sent > 0
            )
            if days_sent == 0 or state.paused:
                assert pair.stage == old_pair.stage
            assert abs(pair.stage - old_pair.stage) <= days_sent

        if policy.warmup_rules == "v2":
            check_advances_explained(policy, before, decision, account.window)
        check_routes(decision)
        check_warming_pairs_within_limits(decision)

        # Idempotent: the same day again, with the output fed back, changes nothing.
        again = decide(policy, decision.account, decision.pairs, account.window, inventory, today)
        assert again.actions == ()
        assert again.account == decision.account
        assert again.pairs == decision.pairs
        assert again.route == decision.route

        event(f"reached {new}")
        for action in decision.actions:
            event(type(action).__name__)
        account.state, account.pairs = decision.account, decision.pairs
        send(account, index, today, decision.route)
        account.window = account.window[-POLICY.history_window_days :]


@pytest.mark.parametrize("policy", [POLICY, V1], ids=["v2", "v1"])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_policy_properties_over_random_histories(
    policy: Policy, scenario: tuple[int, list[Account], list[str]]
) -> None:
    days, accounts, inventory = scenario
    quarantine: list[tuple[date, str]] = []
    for index in range(days):
        step_all(accounts, index, inventory, quarantine, policy)
    everywhere = [ip.address for a in accounts for ip in a.state.ips] + inventory + [a for _, a in quarantine]
    assert len(everywhere) == len(set(everywhere)), "an IP is in two places"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=3_000), min_size=10, max_size=10),
    st.integers(min_value=0, max_value=len(POLICY.warmup_schedule)),
)
@pytest.mark.parametrize("policy", [POLICY, V1], ids=["v2", "v1"])
def test_a_day_without_sending_never_advances_a_stage(policy: Policy, volumes: list[int], stage: int) -> None:
    today = START + timedelta(days=10)
    window = [
        DayHistory(START + timedelta(days=i), {"google": v}, {})  # the pool's pairs sent nothing
        for i, v in enumerate(volumes)
        if v
    ]
    account = AccountState(
        "a", "r1", management_type="transition", transition_started_on=START, ips=(PoolIP("10.0.0.1", START),)
    )
    pairs = tuple(PairState("10.0.0.1", p, stage, START) for p in PROVIDERS)
    decision = decide(policy, account, pairs, window, [], today)
    assert {p.stage for p in decision.pairs if p.address == "10.0.0.1"} == {stage}


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=len(POLICY.warmup_schedule)),
    st.integers(min_value=0, max_value=500),
    st.floats(min_value=0.05, max_value=1.0),
    st.integers(min_value=0, max_value=1),
)
def test_v2_a_pair_never_advances_on_a_day_it_carried_under_advance_fraction(
    stage: int, carried: int, fraction: float, bounced: int
) -> None:
    policy = replace(POLICY, advance_fraction=fraction).validate()
    today = START + timedelta(days=10)
    yesterday = today - timedelta(days=1)
    pair_day = PairDay(carried, Outcomes(carried - min(bounced, carried), 0, min(bounced, carried), 0))
    window = [DayHistory(START + timedelta(days=i), {"google": 2_000}, {}) for i in range(9)]
    window.append(DayHistory(yesterday, {"google": 2_000}, {("10.0.0.1", "google"): pair_day}))
    account = AccountState(
        "a", "r1", management_type="transition", transition_started_on=START, ips=(PoolIP("10.0.0.1", START),)
    )
    pairs = tuple(PairState("10.0.0.1", p, stage, yesterday - timedelta(days=1)) for p in PROVIDERS)
    decision = decide(policy, account, pairs, window, [], today)
    after = next(p.stage for p in decision.pairs if p.provider == "google")
    if stage < policy.warm_stage:
        cap = provider_caps(policy, {"google": 2_000.0})["google"]
        limit = min(policy.warmup_schedule[stage], cap)
        if carried == 0 or carried < fraction * limit:
            assert after <= stage
        else:
            event("advanced")
    assert after <= stage + 1
