"""One active rebalancer at a time: a session advisory lock on a connection of its own.

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

log = logging.getLogger(__name__)

#: Server-side keepalives for the lock's connection: a vanished leader's lock is
#: released after about idle + interval × count seconds.
KEEPALIVE_SETTINGS = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    "application_name": "sendingip-rebalancer-lock",
}


class LeaderLock:
    def __init__(self, url: str) -> None:
        self.url = url
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
            got = bool(await conn.fetchval(queries.load()["worker_leader_try_lock"]))
        except BaseException:
            conn.terminate()
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        log.info("rebalancer lock acquired: this worker is active")
        return True

    async def still_held(self) -> bool:
        """Check the lock's connection is alive (the lock dies with it)."""
        if not self.held:
            return False
        assert self._conn is not None
        try:
            await asyncio.wait_for(self._conn.fetchval("SELECT 1"), timeout=10)
            return True
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            log.warning("rebalancer lock connection lost: no longer active")
            self._conn.terminate()
            self._conn = None
            return False

    async def release(self) -> None:
        """Idempotent."""
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        try:
            await conn.fetchval(queries.load()["worker_leader_unlock"])
            await conn.close()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            conn.terminate()
        log.info("rebalancer lock released")
