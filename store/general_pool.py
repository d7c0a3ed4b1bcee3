"""A region's general (shared) pool as the routers weigh it (SPEC §2 rule 12, v2).

A general-pool IP added to a region ramps in along the warm-up schedule: its weight in the
shared pool is its stage's limit in ``warmup_schedule``, and a warm IP's (stage ``None``)
is the schedule's last limit. The stage grows by one for each day the IP carried traffic
(the rebalancer counts them, ``workers/rebalance/run.py``); a general IP has no daily
limit for the router to enforce, so ``advance_fraction`` of one cannot apply. Used by
Management (AddIPs publishes the entry) and by the rebalancer, so it lives here. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence


def stage_weight(stage: int | None, schedule: Sequence[int]) -> float:
    """The relative weight of a general IP at ``stage`` (``None``: warm)."""
    if stage is None or stage >= len(schedule):
        return float(schedule[-1])
    return float(schedule[stage])


def general_weights(stages: Sequence[int | None], schedule: Sequence[int], rules: str = "v2") -> tuple[float, ...]:
    """The weights of a general pool's IPs, in ``stages``' order, summing to 1; ``()`` when
    they are all equal (every IP warm, or every IP at the same stage, as in a fresh region),
    and under the v1 rules, where every general IP takes an equal share from its first day."""
    if rules == "v1" or not schedule:
        return ()
    raw = [stage_weight(s, schedule) for s in stages]
    if len(set(raw)) <= 1:
        return ()
    total = sum(raw)
    return tuple(w / total for w in raw)


def warmup_percent(stage: int | None, schedule: Sequence[int]) -> float:
    """How far a general IP is through the schedule, 0..100 (100 once warm)."""
    if stage is None or not schedule or stage >= len(schedule):
        return 100.0
    return 100.0 * stage / len(schedule)
