"""Session advisory locks on a connection of their own.

Two locks: ``LEADER`` is held by the active worker for as long as it lives (standbys wait
for it); ``RUN`` is held for the length of one rebalance by whoever runs it, the active
worker or an operator's `sendingip worker --once`, so runs never overlap.

asyncpg's pool runs ``pg_advisory_unlock_all()`` when a connection is released, so the
lock lives on a dedicated connection, outside the pool. Whoever holds it is the leader
until that connection ends; a standby keeps trying and takes over as soon as PostgreSQL
sees the leader's connection close (at once when the process dies; within the TCP
keepalive settings below when its machine vanishes).
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from store import queries
from store.outage import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)

#: Server-side keepalives for the lock's connection: a vanished leader's lock is
#: released after about idle + interval × count seconds.
KEEPALIVE_SETTINGS = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    "application_name": "sendingip-rebalancer-lock",
}


LEADER = "sendingip.rebalancer"
RUN = "sendingip.rebalance-run"


class SessionLock:
    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self._conn: asyncpg.Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def try_acquire(self) -> bool:
        """Take the lock if it is free; True while this process holds it."""
        if self.held:
            return True
        conn = await asyncpg.connect(self.url, server_settings=KEEPALIVE_SETTINGS, timeout=10)
        try:
            got = bool(await conn.fetchval(queries.load()["worker_try_session_lock"], self.name))
        except BaseException:
            conn.terminate()
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        log.debug("lock %s acquired", self.name)
        return True

    async def acquire(self, timeout: float, poll: float = 0.2, cancel: asyncio.Event | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the lock; give up at once when ``cancel`` is set."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not await self.try_acquire():
            if asyncio.get_running_loop().time() >= deadline or (cancel is not None and cancel.is_set()):
                return False
            await asyncio.sleep(poll)
        return True

    async def still_held(self) -> bool:
        """Check the lock's connection is alive (the lock dies with it)."""
        if not self.held:
            return False
        assert self._conn is not None
        try:
            await asyncio.wait_for(self._conn.fetchval("SELECT 1"), timeout=10)
            return True
        except DATABASE_UNAVAILABLE:
            log.warning("lock %s: connection lost, lock released", self.name)
            self._conn.terminate()
            self._conn = None
            return False

    async def release(self) -> None:
        """Idempotent."""
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        try:
            await conn.fetchval(queries.load()["worker_session_unlock"], self.name)
            await conn.close()
        except DATABASE_UNAVAILABLE:
            conn.terminate()
        log.debug("lock %s released", self.name)
