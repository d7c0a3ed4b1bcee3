"""Percentiles and medians, without numpy: what the reports need, nothing more."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q ≤ 100) of already sorted values.

    Nearest rank (the smallest value with at least q% of the values at or below it) never
    invents a latency that was not observed, and p99.9 of 1,000 values is the largest.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile q must be in (0, 100], got {q}")
    rank = math.ceil(round(q * len(sorted_values) / 100, 9))  # round: 99.9% of 1000 is 999, not 999.0000001
    return float(sorted_values[max(rank, 1) - 1])


def percentiles(values: Iterable[float], qs: Sequence[float] = (50, 90, 99, 99.9)) -> dict[str, float]:
    """``{"p50": …, "p99.9": …, "max": …, "n": …}`` of unsorted values (``n`` as a float)."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0.0}
    out = {f"p{q:g}": percentile(ordered, q) for q in qs}
    out["max"] = ordered[-1]
    out["n"] = float(len(ordered))
    return out


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))
