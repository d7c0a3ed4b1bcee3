"""``RecentPicks``: what the engine remembers so that a repeat is not counted twice."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from server.router.repeats import BUCKET_SECONDS, WINDOW_SECONDS, RecentPicks


def test_a_key_is_remembered_for_the_window_then_forgotten() -> None:
    recent: RecentPicks[str] = RecentPicks()
    assert recent.seen(1, 1000.0) is None
    recent.remember(1, "a")
    assert recent.seen(1, 1000.0 + WINDOW_SECONDS - 0.001) == "a"
    assert recent.seen(1, 1000.0 + WINDOW_SECONDS + 2 * BUCKET_SECONDS) is None
    assert len(recent) == 0


def test_answers_are_interned() -> None:
    recent: RecentPicks[tuple[str, int]] = RecentPicks()
    recent.seen(1, 0.0)
    first = recent.remember(1, ("10.0.0.1", 7))
    recent.seen(2, 0.0)
    assert recent.remember(2, ("10.0.0.1", 7)) is first


def test_zero_remembers_nothing() -> None:
    recent: RecentPicks[str] = RecentPicks(max_picks=0)
    recent.seen(1, 0.0)
    recent.remember(1, "a")
    assert (recent.seen(1, 0.0), len(recent)) == (None, 0)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), max_picks=st.integers(1, 400), rate=st.sampled_from([0.5, 3.0, 40.0]))
def test_within_the_window_and_the_bound_a_key_is_always_found(seed: int, max_picks: int, rate: float) -> None:
    """Against a plain model: a key counted less than a window ago, and not among the
    oldest forgotten at the bound, is found; the bound is never exceeded; nothing breaks."""
    rng = random.Random(seed)
    recent: RecentPicks[int] = RecentPicks(max_picks=max_picks)
    added: list[tuple[float, int]] = []  # (time, key) in order
    now = 0.0
    for _ in range(3000):
        now += rng.expovariate(rate) if rng.random() > 0.01 else rng.uniform(0, 2 * WINDOW_SECONDS)
        key = rng.randrange(1 << 128) if rng.random() > 0.3 or not added else rng.choice(added)[1]
        found = recent.seen(key, now)
        # The last ``max_picks`` keys remembered, younger than the window, are all there.
        recent_keys = {k for t, k in added[-max_picks:] if now - t < WINDOW_SECONDS}
        if key in recent_keys:
            assert found == key
        if found is None:
            assert recent.remember(key, key) == key
            added.append((now, key))
        assert len(recent) <= max_picks
