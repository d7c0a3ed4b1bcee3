"""The Management service's connection pool, opened at the first call that needs it.

Lazily, so that a server started while PostgreSQL is down still starts (the router
serves its snapshot) and its Management calls answer UNAVAILABLE until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg

from store.database import create_pool


class LazyPool:
    def __init__(self, url: str, size: int) -> None:
        self.url = url
        self.size = size
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def acquire(self, timeout: float) -> AsyncIterator[asyncpg.Connection]:
        pool = self._pool or await self._open(timeout)
        async with pool.acquire(timeout=timeout) as conn:
            yield conn

    async def _open(self, timeout: float) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                self._pool = await create_pool(self.url, size=self.size, timeout=timeout)
            return self._pool

    async def close(self) -> None:
        """Idempotent."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
