"""``store.hourly_pacing``: SPEC rule 10, a daily limit released by the UTC hour."""

from __future__ import annotations

import math

import pytest

from store.hourly_pacing import paced_limit

HOURS = range(24)
BURSTS = (0.0, 1.0, 1.1, 1.5, 2.0, 3.3, 24.0)
LIMITS = (0, 1, 7, 50, 2400, 1_000_000, 10**9)


def test_the_default_burst_releases_a_twelfth_of_the_limit_an_hour() -> None:
    assert [paced_limit(2400, h, 2.0) for h in HOURS] == [min(2400, 200 * (h + 1)) for h in HOURS]


def test_burst_one_spreads_the_limit_evenly_over_the_day() -> None:
    assert [paced_limit(2400, h, 1.0) for h in HOURS] == [100 * (h + 1) for h in HOURS]


@pytest.mark.parametrize("limit", LIMITS)
def test_burst_zero_turns_pacing_off(limit: int) -> None:
    assert {paced_limit(limit, h, 0.0) for h in HOURS} == {limit}


@pytest.mark.parametrize("limit", LIMITS)
def test_burst_24_releases_the_whole_limit_in_hour_0(limit: int) -> None:
    assert {paced_limit(limit, h, 24.0) for h in HOURS} == {limit}


def test_a_limit_of_one_is_released_in_hour_0() -> None:
    """The ceiling: a small limit is never held back to zero for the first hours."""
    assert [paced_limit(1, h, b) for h in (0, 23) for b in (1.0, 2.0)] == [1, 1, 1, 1]
    assert paced_limit(7, 0, 1.0) == 1 and paced_limit(7, 3, 1.0) == 2


@pytest.mark.parametrize("limit", LIMITS)
@pytest.mark.parametrize("burst", BURSTS)
def test_never_above_the_limit_monotone_and_whole_by_hour_23(limit: int, burst: float) -> None:
    released = [paced_limit(limit, h, burst) for h in HOURS]
    assert all(0 <= r <= limit for r in released)
    assert released == sorted(released)
    assert released[-1] == limit  # every burst allowed (0 or >= 1) frees the whole limit by the day's end


@pytest.mark.parametrize("burst", BURSTS[1:])
def test_the_formula_of_the_spec(burst: float) -> None:
    for limit in (1, 7, 333, 2400, 99_999):
        for h in HOURS:
            exact = limit * (h + 1) * burst / 24
            assert paced_limit(limit, h, burst) == min(limit, math.ceil(round(exact, 6)))


def test_floating_point_noise_never_releases_an_extra_pick() -> None:
    """2400 x 11 x 1.1 / 24 is 1210, but comes out as 1210.0000000000002 in floating point."""
    assert 2400 * 11 * 1.1 / 24 > 1210
    assert paced_limit(2400, 10, 1.1) == 1210
