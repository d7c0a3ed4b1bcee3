"""Background work on the router's event loop, paced so that picks do not notice it.

Reloading the routing table and writing its snapshot run on the same event loop as the
picks (a thread would hold the GIL against the loop for up to 5 ms at a time). They run
in short slices; after each slice the loop *rests*: a real sleep, not ``sleep(0)``.
With ``sleep(0)`` the loop always has work ready, so it never waits in epoll: each of
the several loop turns a unary call needs queues behind a slice, and the process never
leaves its CPU. During a rest the loop is idle, and a call that arrives runs at once.

Measured with ``python -m bench.reload_latency`` (100k accounts re-published, pick p99
during the reload against idle, runs on one machine the same day): ``sleep(0)`` between
50 µs slices and a pause of 3x each page's time after it, 2.7-2.8x; a 1 ms rest after
every 50 µs slice, 1.3-1.9x; after every 20 µs slice (the final setting), 1.3-1.6x.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

#: Background work between two rests: about one account entry (~17 µs to compile).
SLICE_SECONDS = 0.00002
#: The rest after each slice: uvloop's timers count whole milliseconds, so 1 ms is the
#: shortest real one. Caps a reload at about 1,000 entries a second under steady
#: picks (more on an idle router).
REST_SECONDS = 0.001


class Pacer:
    """``await pacer.pause()`` between units of work: it yields once a slice is used up.

    Once ``hurry`` is set (the router is stopping: no pick is waiting any more) it only
    yields, without resting.
    """

    def __init__(
        self,
        slice_seconds: float = SLICE_SECONDS,
        rest_seconds: float = REST_SECONDS,
        clock: Callable[[], float] = time.perf_counter,
        hurry: asyncio.Event | None = None,
    ) -> None:
        self.slice_seconds = slice_seconds
        self.rest_seconds = rest_seconds
        self.clock = clock
        self.hurry = hurry
        self.rests = 0
        self._deadline = clock() + slice_seconds

    async def pause(self) -> None:
        if self.clock() < self._deadline:
            return
        if self.hurry is not None and self.hurry.is_set():
            await asyncio.sleep(0)
        else:
            self.rests += 1
            await asyncio.sleep(self.rest_seconds)
        self._deadline = self.clock() + self.slice_seconds
