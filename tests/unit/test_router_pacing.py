"""Background work on the router's loop rests for real between slices (server/router/pacing.py)."""

from __future__ import annotations

import asyncio
import time

from server.router.pacing import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_work_continues_without_a_rest_until_the_slice_is_used() -> None:
    clock = FakeClock()
    pacer = Pacer(slice_seconds=0.001, rest_seconds=0.0, clock=clock)
    for _ in range(5):
        clock.now += 0.0001
        await pacer.pause()
    assert pacer.rests == 0
    clock.now += 0.001
    await pacer.pause()
    assert pacer.rests == 1
    await pacer.pause()  # a new slice starts after the rest
    assert pacer.rests == 1


async def test_a_rest_leaves_the_loop_idle_for_its_length() -> None:
    """Not sleep(0): a rest lets the loop wait for I/O, which is what keeps picks fast."""
    pacer = Pacer(slice_seconds=0.0, rest_seconds=0.005)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    started = time.perf_counter()
    await pacer.pause()
    elapsed = time.perf_counter() - started
    task.cancel()
    assert elapsed >= 0.004
    assert ticks > 1  # the loop ran other work meanwhile


async def test_once_hurried_it_no_longer_rests() -> None:
    """At shutdown nobody waits for picks: the snapshot is written at full speed."""
    hurry = asyncio.Event()
    pacer = Pacer(slice_seconds=0.0, rest_seconds=0.05, hurry=hurry)
    await pacer.pause()
    assert pacer.rests == 1
    hurry.set()
    started = time.perf_counter()
    for _ in range(20):
        await pacer.pause()
    assert time.perf_counter() - started < 0.05
    assert pacer.rests == 1
