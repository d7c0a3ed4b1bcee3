"""Keeps a ``KeyAuthorizer``'s keys in step with ``api_keys``.

Loaded once before the server answers; reloaded (the whole table: it is small) on every
NOTIFY on ``sendingip_keys`` (keys create/revoke send one), after the LISTEN connection
(re)connects, and every ``poll_interval`` seconds as the fallback, so a lost NOTIFY
delays a revocation by at most one interval and never loses it.

With ``saved`` set, every reload that changes the keys also writes them to that file
(``server/auth/saved.py``: hashes only), for a server that starts while PostgreSQL is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

import asyncpg

from server.auth import saved as saved_keys
from server.auth.authorizer import ActiveKey, KeyAuthorizer
from server.auth.store import KEYS_CHANNEL
from store import queries
from store.database import connect
from store.listener import Listener

log = logging.getLogger(__name__)


async def load_active_keys(conn: asyncpg.Connection) -> list[ActiveKey]:
    return [
        ActiveKey(
            key_id=r["key_id"],
            secret_hash=bytes(r["secret_hash"]),
            permissions=frozenset(r["permissions"]),
            accounts=None if r["accounts"] is None else frozenset(r["accounts"]),
        )
        for r in await conn.fetch(queries.load()["keys_active"])
    ]


class KeyCache:
    def __init__(
        self, url: str, authorizer: KeyAuthorizer, *, poll_interval: float = 30.0, saved: Path | None = None
    ) -> None:
        self.url = url
        self.authorizer = authorizer
        self.poll_interval = poll_interval
        self.saved = saved
        self.reloads = 0
        self._saved_keys: frozenset[ActiveKey] | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    async def reload(self) -> None:
        async with connect(self.url) as conn:
            active = await load_active_keys(conn)
        self.authorizer.replace(active)
        self.reloads += 1
        log.debug("api keys loaded active=%d", len(active))
        if self.saved is not None and frozenset(active) != self._saved_keys:
            try:
                await asyncio.to_thread(saved_keys.save, self.saved, self.url, active)
                self._saved_keys = frozenset(active)
            except OSError as exc:
                log.warning("could not save the api keys path=%s: %s", self.saved, exc)

    async def load_saved(self) -> bool:
        """Serve the keys saved by an earlier run (PostgreSQL unreachable); False when there are none."""
        if self.saved is None:
            return False
        found = await asyncio.to_thread(saved_keys.load, self.saved, self.url)
        if found is None:
            return False
        active, saved_at = found
        self.authorizer.replace(active)
        log.warning(
            "serving the api keys saved %.0fs ago active=%d path=%s until PostgreSQL is reachable",
            max(0.0, time.time() - saved_at),
            len(active),
            self.saved,
        )
        return True

    async def run(self) -> None:
        """Reload on notification or every ``poll_interval`` until ``stop()``."""
        listener = Listener(self.url, KEYS_CHANNEL, on_notify=self._on_notify, on_connect=self._on_connect)
        listening = asyncio.create_task(listener.run(), name="api-keys-listener")
        try:
            while not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                self._wake.clear()
                if self._stopping.is_set():
                    break
                try:
                    await self.reload()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                    # Keep the keys we have: a database outage must not lock every MTA out.
                    log.warning("api keys reload failed: %s; keeping %d keys", exc, len(self.authorizer))
                if listening.done():
                    listening.result()  # a listener that died unexpectedly stops us loudly
        finally:
            listener.stop()
            await listening

    def stop(self) -> None:
        """Idempotent."""
        self._stopping.set()
        self._wake.set()

    def _on_notify(self, _payload: str) -> None:
        self._wake.set()

    async def _on_connect(self) -> None:
        # A NOTIFY sent while the connection was down is lost: catch up.
        self._wake.set()
