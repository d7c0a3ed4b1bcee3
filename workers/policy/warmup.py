"""Warm-up of (IP, mailbox provider) pairs: stages, limits, and a day's verdict (rule 2).

A pair's stage moves only for a day on which that pair sent mail: one stage forward,
unless that day's outcomes reach a hold threshold (no move) or a step-back threshold
(one stage back). Days without sending do not count at all.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from store.account_figures import IpStatus
from store.policy_settings import Policy
from workers.policy.model import DayHistory, Outcomes, PairState, PoolIP

Verdict = Literal["advance", "hold", "step_back"]


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


def stage_limit(policy: Policy, stage: int) -> int | None:
    """Daily limit of a pair at ``stage``; ``None`` once it is warm."""
    schedule = policy.warmup_schedule
    return schedule[stage] if stage < len(schedule) else None


def judge_day(policy: Policy, outcomes: Outcomes) -> tuple[Verdict, str]:
    """What one sending day's outcomes do to the stage, and which threshold decided it.

    Rates are fractions of ``outcomes.total``; a day without reported outcomes advances.
    """
    total = outcomes.total
    if total <= 0:
        return "advance", ""
    bounce = outcomes.bounced / total
    complaint = outcomes.complained / total
    deferral = outcomes.deferred / total
    if bounce >= policy.step_back_bounce_rate:
        return "step_back", _over("bounce", bounce, policy.step_back_bounce_rate)
    if complaint >= policy.step_back_complaint_rate:
        return "step_back", _over("complaint", complaint, policy.step_back_complaint_rate)
    if bounce >= policy.hold_bounce_rate:
        return "hold", _over("bounce", bounce, policy.hold_bounce_rate)
    if complaint >= policy.hold_complaint_rate:
        return "hold", _over("complaint", complaint, policy.hold_complaint_rate)
    if deferral >= policy.hold_deferral_rate:
        return "hold", _over("deferral", deferral, policy.hold_deferral_rate)
    return "advance", ""


def percent(fraction: float) -> str:
    """``0.071`` → ``7.1%``; ``0.001`` → ``0.1%`` (no trailing zeros)."""
    return f"{fraction * 100:.2f}".rstrip("0").rstrip(".") + "%"


def _over(name: str, rate: float, threshold: float) -> str:
    return f"{name} {percent(rate)} ≥ {percent(threshold)}"


def evaluate_pair(
    policy: Policy, pair: PairState, days: list[DayHistory], through: date, frozen: bool
) -> tuple[PairState, list[PairEvent]]:
    """Apply the pair's sending days after ``pair.evaluated_through`` up to ``through``.

    ``days`` is the window, oldest first. ``frozen`` (warm-up paused) marks those days
    as seen without moving the stage, so sending during a pause never counts later.
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
        key = (pair.address, pair.provider)
        warm = policy.warm_stage
        for h in reversed(pending):
            sent = h.pairs.get(key)
            if sent is None or sent.sent <= 0:
                continue
            verdict, detail = judge_day(policy, sent.outcomes)
            if verdict == "advance":
                stage = min(stage + 1, warm)
            else:
                if verdict == "step_back":
                    stage = max(stage - 1, 0)
                events.append(PairEvent(pair.address, pair.provider, h.day, verdict, detail, stage))
    return PairState(pair.address, pair.provider, stage, through), events


def warmup_fraction(policy: Policy, stages: Mapping[str, int], carrying: Collection[str]) -> float:
    """How far an IP is through the schedule for the providers that carry traffic, 0..1."""
    warm = policy.warm_stage
    if not carrying:
        return 1.0
    return sum(min(stages.get(p, 0), warm) for p in carrying) / (warm * len(carrying))


def ip_status(policy: Policy, ip: PoolIP, stages: Mapping[str, int], carrying: Collection[str]) -> IpStatus:
    if ip.draining:
        return "draining"
    warm = policy.warm_stage
    if all(stages.get(p, 0) >= warm for p in carrying):
        return "active"
    return "in_progress"
