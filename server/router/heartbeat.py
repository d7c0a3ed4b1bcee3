"""The router's heartbeat: a row in ``router_heartbeats`` renewed every few seconds.

Its answer is the number of live routers (a metric and a log line): a router whose
heartbeat is older than three intervals no longer counts. The daily limits do not depend
on it: the routers share them by budget leasing (``leases.py``). The same task prunes
flush ids, outcome report ids, rests and leases older than a week (ids only guard retries
of recent flushes; leases are per day).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import asyncpg

from store import queries
from store.outage import DATABASE_UNAVAILABLE, Outage

log = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0
KEEP_FLUSH_IDS_DAYS = 7


class Heartbeat:
    def __init__(
        self,
        pool: asyncpg.Pool,
        router_id: str,
        version: Callable[[], int],
        *,
        address: str = "",
        interval: float = 5.0,
    ) -> None:
        self.pool = pool
        self.router_id = router_id
        #: Live routers at the last beat, this one included.
        self.live = 1
        self.version = version
        self.address = address
        self.interval = interval
        self.failures = 0
        self._outage = Outage(log, f"heartbeat router_id={router_id}")
        self._last_prune = float("-inf")  # prune at the first beat

    async def beat(self) -> int:
        async with asyncio.timeout(10), self.pool.acquire() as conn:
            q = queries.load()
            live = int(
                await conn.fetchval(
                    q["router_heartbeat"], self.router_id, self.address, self.version(), 3 * self.interval
                )
            )
            if time.monotonic() - self._last_prune > PRUNE_EVERY:
                await conn.execute(q["router_prune_flushes"], KEEP_FLUSH_IDS_DAYS)
                await conn.execute(q["router_prune_outcome_reports"], KEEP_FLUSH_IDS_DAYS)
                await conn.execute(q["router_prune_rests"], KEEP_FLUSH_IDS_DAYS)
                await conn.execute(q["router_prune_leases"], KEEP_FLUSH_IDS_DAYS)
                self._last_prune = time.monotonic()
        if live != self.live:
            log.info("live routers=%d", live)
        self.live = live
        return live

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.beat()
                self.failures = 0
                self._outage.recovered()
            except DATABASE_UNAVAILABLE as exc:
                self.failures += 1
                self._outage.failed(exc, f"keeping live routers={self.live}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.interval)

    async def remove(self) -> None:
        """On a clean stop: the other routers count it out at once."""
        try:
            async with asyncio.timeout(5), self.pool.acquire() as conn:
                await conn.execute(queries.load()["router_heartbeat_remove"], self.router_id)
        except DATABASE_UNAVAILABLE as exc:
            log.warning("could not remove heartbeat router_id=%s: %s", self.router_id, exc)
