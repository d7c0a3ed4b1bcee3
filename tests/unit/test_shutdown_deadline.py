"""One deadline for the whole shutdown (server/shutdown.py): each step ends by it, even a
step whose clean-up waits again after it is cancelled (asyncpg on a frozen server)."""

from __future__ import annotations

import asyncio
import time

from server.shutdown import CANCEL_WAIT, Deadline


async def _stubborn(cleaned: list[str]) -> None:
    """Waits for ever, and its clean-up waits for ever too (a lock released over a dead connection)."""
    try:
        await asyncio.Event().wait()
    finally:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append("done")


async def test_every_step_ends_by_the_deadline_and_what_is_left_shrinks() -> None:
    deadline = Deadline(0.6)
    started = time.monotonic()
    assert await deadline.run("quick", asyncio.sleep(0.01))
    cleaned: list[str] = []
    assert not await deadline.run("stubborn", _stubborn(cleaned), reserve=0.2)
    assert cleaned == ["done"]  # cancelled again until its clean-up gave up too
    assert time.monotonic() - started <= 0.6 - 0.2 + 0.05
    assert not await deadline.run("late", asyncio.sleep(10))
    assert time.monotonic() - started <= 0.6 + 0.05
    assert deadline.left() <= CANCEL_WAIT  # what a step cancelled at the end may still take


async def test_a_failing_step_is_reported_not_raised_and_a_limit_caps_the_step() -> None:
    deadline = Deadline(5)

    async def fails() -> None:
        raise ConnectionResetError("gone")

    assert not await deadline.run("fails", fails())
    started = time.monotonic()
    assert not await deadline.run("capped", asyncio.sleep(10), limit=0.1)
    assert time.monotonic() - started < 0.1 + CANCEL_WAIT + 0.05
