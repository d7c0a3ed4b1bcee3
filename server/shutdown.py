"""One deadline for the whole shutdown, so that SIGTERM ends the process within a
container's grace period (10 s by default) whatever PostgreSQL does.

A PostgreSQL that accepts connections and never answers holds every await that talks
to it for as long as its own timeout, and some (asyncpg's ``Pool.close``) for ever; one
timeout per step added up to more than a minute. So the entry point starts one
``Deadline`` when the stop begins and every step gets what is left of it, not a
timeout of its own: a step still running then is cancelled, and left behind if even
that does not end it (the next step must still run). ``reserve`` keeps time back for
the steps that must come after (the history backlog to disk).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds a step cancelled at its bound gets to end before it is left behind.
CANCEL_WAIT = 0.2


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self, reserve: float = 0.0) -> float:
        """Seconds until the deadline, less ``reserve``; never negative."""
        return max(0.0, self.at - reserve - time.monotonic())

    async def run(self, what: str, step: Awaitable[T], *, limit: float | None = None, reserve: float = 0.0) -> bool:
        """Await ``step`` for at most what is left (less ``reserve``, and at most ``limit``);
        a step cancelled then still ends by the deadline.

        True when it ended in time. A step that fails is logged, not raised: the steps
        after it must run all the same."""
        seconds = self.left(reserve + CANCEL_WAIT)
        if limit is not None:
            seconds = min(limit, seconds)
        task = asyncio.ensure_future(step)
        done, _ = await asyncio.wait([task], timeout=seconds)
        if not done:
            await cancel(task, what, seconds)
            return False
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("shutdown: %s failed: %r", what, exc)
            return False
        return True


async def cancel(task: asyncio.Future[T], what: str, after: float) -> None:
    """Cancel ``task`` and wait ``CANCEL_WAIT`` for it to end, else leave it behind.

    Cancelled again every ``CANCEL_WAIT / 4``: a task whose clean-up awaits the frozen
    server too (a ``finally`` that releases a lock over its connection) moves on to
    its next clean-up each time, rather than holding the process."""
    for _ in range(4):
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=CANCEL_WAIT / 4)
        if done:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
            log.warning("shutdown: %s cancelled after %.1fs", what, after)
            return
    log.warning("shutdown: %s cancelled after %.1fs and still running; left behind", what, after)
