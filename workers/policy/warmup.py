"""Warm-up of (IP, mailbox provider) pairs: stages, limits, and a day's verdict (rule 2).

v2 (the default, ``warmup_rules = "v2"``): a pair advances one stage for each day on
which it *carried* at least ``advance_fraction`` of that day's limit; a day on which it
carried less, or nothing, holds it. That day's limit is the limit of the stage the pair
had that day in its provider's schedule (``Policy.schedule_for``: its entry in
``provider_schedules``, else ``warmup_schedule``; a pair is warm past the last stage of
its provider's schedule), capped by the provider's slice of ``ip_daily_capacity`` (the
limit the router enforced; the slice is this run's, ``split.provider_caps``). The day's outcomes can
still hold it (hold threshold) or step it one stage back (step-back threshold), whatever
it carried. A warm pair has no limit: only a step-back moves it.

v1 (``warmup_rules = "v1"``): a pair's stage moves only for a day on which that pair sent
mail: one stage forward, unless that day's outcomes reach a hold threshold (no move) or a
step-back threshold (one stage back). Days without sending do not count at all.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from store.account_figures import IpStatus
from store.policy_settings import Policy
from store.reputation import Verdict as Verdict
from store.reputation import judge
from store.reputation import percent as percent
from workers.policy.model import DayHistory, Outcomes, PairDay, PairState, PoolIP


@dataclass(frozen=True, slots=True)
class PairEvent:
    """A held or stepped-back day of one pair, for the account's ``reason``."""

    address: str
    provider: str
    day: date
    verdict: Verdict
    #: Which threshold, e.g. ``bounce 7.1% ≥ 5%``.
    detail: str
    #: The stage after that day.
    stage: int

    def describe(self) -> str:
        """One readable line, e.g. ``warm-up of 192.0.2.1 for google on 2026-03-04: held at
        stage 4 (bounce 7.1% ≥ 5%)``; the rebalancer logs it."""
        done = {"hold": "held at", "step_back": "stepped back to", "advance": "advanced to"}[self.verdict]
        return f"warm-up of {self.address} for {self.provider} on {self.day}: {done} stage {self.stage} ({self.detail})"


def warm_stage(policy: Policy, provider: str) -> int:
    """The stage at which a pair of ``provider`` is warm: past its provider's schedule."""
    return len(policy.schedule_for(provider))


def longest_warm_stage(policy: Policy) -> int:
    """The warm stage of the longest of the providers' schedules (what a displayed
    ``min_stage`` is out of)."""
    return max(warm_stage(policy, p) for p in policy.mailbox_providers)


def stage_limit(policy: Policy, provider: str, stage: int) -> int | None:
    """Daily limit of a pair of ``provider`` at ``stage``; ``None`` once it is warm."""
    schedule = policy.schedule_for(provider)
    return schedule[stage] if stage < len(schedule) else None


def judge_day(policy: Policy, outcomes: Outcomes) -> tuple[Verdict, str]:
    """What one sending day's outcomes do to the stage (``store.reputation.judge``)."""
    return judge(policy, outcomes)


def day_limit(policy: Policy, provider: str, stage: int, cap: int | None) -> int | None:
    """The limit of a pair of ``provider`` at ``stage`` under a capacity slice ``cap``;
    ``None`` once warm."""
    limit = stage_limit(policy, provider, stage)
    if limit is None or cap is None:
        return limit
    return limit if limit < cap else cap


def carried_enough(policy: Policy, carried: int, limit: int) -> bool:
    """Rule 2 (v2): the day's carried volume earns a stage (nothing carried never does)."""
    return carried > 0 and carried >= policy.advance_fraction * limit


def evaluate_pair(
    policy: Policy,
    pair: PairState,
    days: list[DayHistory],
    through: date,
    frozen: bool,
    cap: int | None = None,
) -> tuple[PairState, list[PairEvent]]:
    """Apply the pair's days after ``pair.evaluated_through`` up to ``through``.

    ``days`` is the window, oldest first. ``frozen`` (warm-up paused) marks those days
    as seen without moving the stage, so sending during a pause never counts later.
    ``cap``: the provider's slice of an IP's capacity (v2: caps each day's limit).
    """
    last = pair.evaluated_through
    if last is not None and last >= through:
        return pair, []
    pending: list[DayHistory] = []
    for h in reversed(days):
        if last is not None and h.day <= last:
            break
        if h.day <= through:
            pending.append(h)
    events: list[PairEvent] = []
    stage = pair.stage
    if not frozen:
        step = _step_v1 if policy.warmup_rules == "v1" else _step_v2
        key = (pair.address, pair.provider)
        for h in reversed(pending):
            stage, event = step(policy, pair, stage, h.day, h.pairs.get(key), cap)
            if event is not None:
                events.append(event)
    return PairState(pair.address, pair.provider, stage, through), events


def _step_v1(
    policy: Policy, pair: PairState, stage: int, day: date, sent: PairDay | None, cap: int | None
) -> tuple[int, PairEvent | None]:
    """v1: a day the pair sent advances it unless its outcomes hold or step it back."""
    if sent is None or sent.sent <= 0:
        return stage, None
    verdict, detail = judge_day(policy, sent.outcomes)
    if verdict == "advance":
        return min(stage + 1, warm_stage(policy, pair.provider)), None
    if verdict == "step_back":
        stage = max(stage - 1, 0)
    return stage, PairEvent(pair.address, pair.provider, day, verdict, detail, stage)


def _step_v2(
    policy: Policy, pair: PairState, stage: int, day: date, sent: PairDay | None, cap: int | None
) -> tuple[int, PairEvent | None]:
    """v2: outcomes first (hold, step back), then the carried volume against the day's limit.

    A hold for volume is no event (the ``reason`` says it, from the history): it is the
    ordinary state of a pair whose demand stays below its limit.
    """
    carried = sent.sent if sent is not None else 0
    verdict, detail = judge_day(policy, sent.outcomes) if sent is not None else ("advance", "")
    if verdict == "step_back":
        stage = max(stage - 1, 0)
        return stage, PairEvent(pair.address, pair.provider, day, verdict, detail, stage)
    if verdict == "hold":
        return stage, PairEvent(pair.address, pair.provider, day, verdict, detail, stage)
    limit = day_limit(policy, pair.provider, stage, cap)
    if limit is not None and carried_enough(policy, carried, limit):
        return stage + 1, None
    return stage, None


def warmup_fraction(policy: Policy, stages: Mapping[str, int], carrying: Collection[str]) -> float:
    """How far an IP is through the schedules of the providers that carry traffic, 0..1
    (the mean over those providers of each pair's part of its own provider's schedule)."""
    if not carrying:
        return 1.0
    done = 0.0
    for p in carrying:
        warm = warm_stage(policy, p)
        done += min(stages.get(p, 0), warm) / warm
    return done / len(carrying)


def settled_pairs(
    policy: Policy,
    active: Sequence[str],
    stages: Mapping[str, Mapping[str, int]],
    carrying: Collection[str],
    caps: Mapping[str, int],
    demand: Mapping[str, float],
) -> frozenset[tuple[str, str]]:
    """The (address, provider) pairs of carrying providers that need no more warm-up.

    A pair is settled once it finished its schedule. Under v2 it is also settled once it
    carries all of its demand: the split gives each pair of provider p the share
    ``capacity / D_p`` of p's traffic, so every pair's part of ``demand[p]`` (the peak of
    the last days or ``E_p``, whichever is larger) is inside its limit exactly when the
    pool's capacity ``D_p`` covers ``demand[p]``.
    """
    v2 = policy.warmup_rules != "v1"
    settled: set[tuple[str, str]] = set()
    for provider in carrying:
        warm = warm_stage(policy, provider)
        by_address = {address: stages.get(address, {}).get(provider, 0) for address in active}
        capacity = pool_capacity(policy, provider, by_address.values(), caps.get(provider, 0))
        covered = v2 and capacity >= demand.get(provider, 0.0)
        settled.update((address, provider) for address, stage in by_address.items() if covered or stage >= warm)
    return frozenset(settled)


def pool_capacity(policy: Policy, provider: str, stages: Iterable[int], cap: int) -> int:
    """``D_p``: what the pool's pairs of ``provider`` carry today (a warm one: its ``cap``)."""
    return sum(cap if (limit := day_limit(policy, provider, stage, cap)) is None else limit for stage in stages)


def ip_status(policy: Policy, ip: PoolIP, carrying: Collection[str], settled: Collection[tuple[str, str]]) -> IpStatus:
    """Draining; Active when each of its carrying pairs is settled; else In Progress."""
    if ip.draining:
        return "draining"
    if all((ip.address, p) in settled for p in carrying):
        return "active"
    return "in_progress"
