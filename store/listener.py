"""LISTEN on a connection of its own, reconnecting when it is lost.

A pooled connection is reset on release (``UNLISTEN *``), so LISTEN never lives there.
A NOTIFY sent while the connection is down is lost: ``on_connect`` runs after every
(re)connect so the consumer can catch up by polling, and consumers keep polling anyway;
a lost notification only delays an update. While PostgreSQL is away the retries are
logged as one outage (``store/outage.py``), not one line each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from store.outage import Outage

log = logging.getLogger(__name__)


class Listener:
    def __init__(
        self,
        url: str,
        channel: str,
        on_notify: Callable[[str], None],
        on_connect: Callable[[], Awaitable[None]] | None = None,
        *,
        max_backoff: float = 5.0,
    ) -> None:
        self.url = url
        self.channel = channel
        self.on_notify = on_notify
        self.on_connect = on_connect
        self.max_backoff = max_backoff
        self.connected = asyncio.Event()
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Listen until ``stop()``; reconnect with backoff whenever the connection drops."""
        backoff = 0.1
        outage = Outage(log, f"listen channel={self.channel}")
        while not self._stopping.is_set():
            lost = asyncio.Event()
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.url, timeout=10)
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(self.channel, self._deliver)
                self.connected.set()
                if not outage.recovered():
                    log.info("listening channel=%s", self.channel)
                backoff = 0.1
                if self.on_connect is not None:
                    await self.on_connect()
                await _first(lost.wait(), self._stopping.wait())
                if lost.is_set():
                    outage.failed(ConnectionError("the LISTEN connection was lost"), "reconnecting")
            except Exception as exc:  # any failure (including on_connect's) means: reconnect
                outage.failed(exc, f"reconnecting every {self.max_backoff:.0f}s at most")
                await _first(asyncio.sleep(backoff), self._stopping.wait())
                backoff = min(backoff * 2, self.max_backoff)
            finally:
                self.connected.clear()
                if conn is not None and not conn.is_closed():
                    conn.terminate()

    def stop(self) -> None:
        """Idempotent."""
        self._stopping.set()

    def _deliver(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.on_notify(payload)


async def _first(*aws: Awaitable[object]) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
