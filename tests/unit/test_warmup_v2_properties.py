"""Rule 2 (v2) as a property over random histories and policies (hypothesis): every advance
is explained by history.

An account in Transition is run day by day through ``decide``; the rebalancer skips some
days, so one run may judge several. Each day a pair carries an amount drawn around the
threshold of that day (nothing, just under ``advance_fraction`` of the day's limit,
exactly at it, the whole limit, a random part) with outcomes that sometimes hold or step
back. Policies vary ``advance_fraction``, the schedule, a provider's own schedule
(``provider_schedules``) and ``ip_daily_capacity`` (whose provider slices cap the limits).

At every run, for every pair the run evaluated: each stage it gained is one day in the
window, after the day it was last evaluated, on which it carried at least
``advance_fraction`` × that day's limit (``warmup.day_limit`` at the stage it had that day,
with the run's capacity slice as ``warmup.day_limit`` defines it, written
here from the SPEC) and whose outcomes neither held nor stepped it back; the
number of stages gained (less the step-backs) is the number of such days; a paused run or
a Draining IP moves nothing. ``tests/unit/test_policy_properties.py`` checks the same rule
along the whole policy with the default fraction and one schedule.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from workers.policy import (
    AccountState,
    DayHistory,
    Outcomes,
    PairDay,
    PairState,
    Policy,
    PoolIP,
    days_in_window,
    decide,
    provider_caps,
    summarize,
)

START = date(2025, 3, 1)
PROVIDERS = ("google", "microsoft", "yahoo", "apple", "other")
ADDRESSES = ("10.0.0.1", "10.0.0.2")


@st.composite
def schedules(draw: st.DrawFn) -> tuple[int, ...]:
    steps = draw(st.lists(st.sampled_from([10, 20, 30, 50, 100, 150]), min_size=1, max_size=4))
    return tuple(sum(steps[: i + 1]) for i in range(len(steps)))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    schedule = draw(schedules())
    own = {"microsoft": draw(schedules())} if draw(st.booleans()) else {}
    biggest = max([*schedule, *(s for one in own.values() for s in one)])
    return Policy(
        history_window_days=10,
        dedicated_threshold_30d=3_000,
        general_threshold_30d=100,
        min_active_days=3,
        # Often small enough that a provider's slice caps its limits.
        ip_daily_capacity=draw(st.sampled_from([biggest, biggest * 2, 2_000])),
        max_ips_per_account=2,
        warmup_schedule=schedule,
        provider_schedules=own,
        scale_in_days=3,
        quarantine_days=3,
        expected_volume_days=3,
        advance_fraction=draw(st.one_of(st.sampled_from([0.5, 0.9, 1.0]), st.floats(0.05, 1.0))),
    ).validate()


@dataclass(frozen=True)
class Replay:
    """What rule 2 (v2), read from the SPEC, makes of a pair's days since its last run."""

    stage: int
    #: (day, carried, limit) of each day that earned a stage.
    advances: tuple[tuple[date, int, int], ...]
    step_backs: int


def spec_limit(policy: Policy, provider: str, stage: int, cap: int | None) -> int | None:
    """A pair's limit at ``stage`` (SPEC §2): its provider's schedule (else ``warmup_schedule``)
    capped by the provider's slice of ``ip_daily_capacity``; ``None`` past the schedule."""
    schedule = policy.provider_schedules.get(provider, policy.warmup_schedule)
    if stage >= len(schedule):
        return None
    return schedule[stage] if cap is None else min(schedule[stage], cap)


def spec_verdict(policy: Policy, outcomes: Outcomes) -> str:
    """What a day's outcomes do (SPEC §2 reputation thresholds), rates of the reported outcomes."""
    total = outcomes.delivered + outcomes.deferred + outcomes.bounced
    if total <= 0:
        return "advance"
    bounce, complaint, deferral = outcomes.bounced / total, outcomes.complained / total, outcomes.deferred / total
    if bounce >= policy.step_back_bounce_rate or complaint >= policy.step_back_complaint_rate:
        return "step_back"
    if bounce >= policy.hold_bounce_rate or complaint >= policy.hold_complaint_rate:
        return "hold"
    return "hold" if deferral >= policy.hold_deferral_rate else "advance"


def replay(policy: Policy, old: PairState, window: Sequence[DayHistory], today: date, cap: int | None) -> Replay:
    stage, advances, step_backs = old.stage, [], 0
    last = old.evaluated_through
    for h in sorted(window, key=lambda h: h.day):
        if last is None or not last < h.day < today:
            continue
        pd = h.pairs.get((old.address, old.provider))
        carried = pd.sent if pd is not None else 0
        verdict = spec_verdict(policy, pd.outcomes) if pd is not None else "advance"
        if verdict == "step_back":
            stage, step_backs = max(stage - 1, 0), step_backs + 1
            continue
        limit = spec_limit(policy, old.provider, stage, cap)
        if verdict == "advance" and limit is not None and carried > 0 and carried >= policy.advance_fraction * limit:
            advances.append((h.day, carried, limit))
            stage += 1
    return Replay(stage, tuple(advances), step_backs)


def run_caps(policy: Policy, window: Sequence[DayHistory], today: date) -> dict[str, int]:
    """The capacity slices a run for ``today`` limits the pairs with (``split.provider_caps``)."""
    return provider_caps(policy, summarize(policy, days_in_window(policy, window, today)).expected)


def check_run(
    policy: Policy,
    account: AccountState,
    before: Sequence[PairState],
    after: Sequence[PairState],
    window: Sequence[DayHistory],
    today: date,
) -> None:
    caps = run_caps(policy, window, today)
    draining = {ip.address for ip in account.ips if ip.draining}
    new = {(p.address, p.provider): p for p in after}
    for old in before:
        pair = new.get((old.address, old.provider))
        if pair is None or old.evaluated_through is None:
            continue
        if account.paused or old.address in draining:
            assert pair.stage == old.stage, (pair, old, "paused" if account.paused else "draining")
            event("paused run" if account.paused else "draining IP")
            continue
        expected = replay(policy, old, window, today, caps[old.provider])
        for _, carried, limit in expected.advances:
            assert carried > 0 and carried >= policy.advance_fraction * limit
        assert pair.stage == expected.stage, (old, pair, expected, caps[old.provider])
        if not expected.step_backs:
            # No step-back: the stages gained are exactly the days that earned one.
            assert pair.stage - old.stage == len(expected.advances), (old, pair, expected)
        if expected.advances:
            event(f"advanced {len(expected.advances)} in one run")
        if pair.stage < old.stage:
            event("stepped back")


def carried_choices(policy: Policy, limit: int | None) -> list[int]:
    """Amounts around the day's threshold: nothing, just under it, at it, the limit."""
    if limit is None:
        return [0, 50]
    at = math.ceil(policy.advance_fraction * limit - 1e-9)
    return sorted({0, max(at - 1, 0), at, limit, max(limit // 3, 1)})


def estimated_limit(
    policy: Policy, pair: PairState, window: Sequence[DayHistory], today: date, cap: int | None
) -> int | None:
    """The limit a pair will be judged against for ``today`` if the next run is tomorrow."""
    return spec_limit(policy, pair.provider, replay(policy, pair, window, today, cap).stage, cap)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=policies(),
    days=st.integers(min_value=4, max_value=18),
    pool=st.integers(min_value=1, max_value=len(ADDRESSES)),
    mix=st.sampled_from([("google",), ("google", "microsoft"), PROVIDERS]),
    draining=st.booleans(),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_v2_every_advance_is_a_day_that_carried_advance_fraction_of_its_limit(
    policy: Policy, days: int, pool: int, mix: tuple[str, ...], draining: bool, seed: int
) -> None:
    # The many small choices of each day come from a seeded generator: cheap to draw, and
    # the seed still shrinks with the rest.
    rng = random.Random(seed)
    ips = tuple(PoolIP(a, START) for a in ADDRESSES[:pool])
    if draining and pool > 1:  # the last IP started draining today: its pairs stay as they are
        ips = (*ips[:-1], PoolIP(ips[-1].address, START, draining_since=START))
    account = AccountState("a", "r1", management_type="transition", transition_started_on=START, ips=ips)
    before = START - timedelta(days=1)
    pairs = tuple(PairState(ip.address, p, rng.randrange(4), before) for ip in ips for p in PROVIDERS)
    window: list[DayHistory] = []
    for index in range(days):
        today = START + timedelta(days=index)
        if index == days - 1 or rng.random() < 0.6:  # the rebalancer skips some days
            account = replace(account, paused=rng.random() < 0.2)
            decision = decide(policy, account, pairs, window, [], today)
            check_run(policy, account, pairs, decision.pairs, window, today)
            account, pairs = decision.account, decision.pairs
        window.append(send(policy, rng, account, pairs, window, today, mix))
        window = window[-policy.history_window_days :]


def send(
    policy: Policy,
    rng: random.Random,
    account: AccountState,
    pairs: Sequence[PairState],
    window: Sequence[DayHistory],
    today: date,
    mix: Sequence[str],
) -> DayHistory:
    """Today's mail: each live pair carries an amount around its threshold for today, with
    outcomes that now and then hold it or step it back."""
    caps = run_caps(policy, [*window, DayHistory(today, dict.fromkeys(mix, 100), {})], today + timedelta(days=1))
    sent: dict[tuple[str, str], PairDay] = {}
    live = {ip.address for ip in account.ips if not ip.draining}
    for pair in pairs:
        if pair.address not in live or pair.provider not in mix:
            continue
        limit = estimated_limit(policy, pair, window, today, caps[pair.provider])
        carried = rng.choice(carried_choices(policy, limit))
        if carried:
            bounced = round(carried * rng.choice([0.0, 0.0, 0.0, 0.07, 0.15]))
            deferred = round((carried - bounced) * rng.choice([0.0, 0.0, 0.3]))
            sent[(pair.address, pair.provider)] = PairDay(
                carried, Outcomes(carried - bounced - deferred, deferred, bounced, 0)
            )
    volumes = {p: 100 + sum(d.sent for (_, q), d in sent.items() if q == p) for p in mix}
    return DayHistory(today, volumes, sent)
