"""Keeps a ``KeyAuthorizer``'s keys in step with ``api_keys``.

Loaded once before the server answers; reloaded (the whole table: it is small) on every
NOTIFY on ``sendingip_keys`` (keys create/revoke send one), after the LISTEN connection
(re)connects, and every ``poll_interval`` seconds as the fallback, so a lost NOTIFY
delays a revocation by at most one interval and never loses it.

With ``saved`` set, a reload that changes the keys also writes them to that file
(``server/auth/saved.py``: hashes only), for a server that starts while PostgreSQL is down;
so does the first reload a minute after the last write, so the file's ``saved_at`` says
when PostgreSQL last confirmed those keys. Such a server serves them only if that was less
than ``max_saved_age`` ago: a key revoked after it is accepted until PostgreSQL answers
(then the live set replaces the saved one at the first reload), and the bound says for how
long that can have been.
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
from store.outage import DATABASE_UNAVAILABLE, Outage

log = logging.getLogger(__name__)

#: Seconds after which an unchanged key set is written again, to record that PostgreSQL
#: still confirms it (the saved file's age is what ``max_saved_age`` bounds).
RESAVE_EVERY = 60.0


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
        self,
        url: str,
        authorizer: KeyAuthorizer,
        *,
        poll_interval: float = 30.0,
        saved: Path | None = None,
        max_saved_age: float = 24 * 3600.0,
    ) -> None:
        self.url = url
        self.authorizer = authorizer
        self.poll_interval = poll_interval
        self.saved = saved
        #: Seconds: saved keys older than this are not served (0: saved keys are never served).
        self.max_saved_age = max_saved_age
        self.reloads = 0
        self._saved_keys: frozenset[ActiveKey] | None = None
        self._saved_at = float("-inf")
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._outage = Outage(log, "api keys reload")

    async def reload(self) -> None:
        async with connect(self.url) as conn:
            active = await load_active_keys(conn)
        self.authorizer.replace(active)
        self.reloads += 1
        log.debug("api keys loaded active=%d", len(active))
        changed = frozenset(active) != self._saved_keys
        if self.saved is not None and (changed or time.monotonic() - self._saved_at >= RESAVE_EVERY):
            try:
                await asyncio.to_thread(saved_keys.save, self.saved, self.url, active)
                self._saved_keys = frozenset(active)
                self._saved_at = time.monotonic()
            except OSError as exc:
                log.warning("could not save the api keys path=%s: %s", self.saved, exc)

    async def load_saved(self) -> bool:
        """Serve the keys saved by an earlier run (PostgreSQL unreachable) if they are recent
        enough; False (and why, in the log) when not."""
        if self.saved is None:
            return False
        found = await asyncio.to_thread(saved_keys.load, self.saved, self.url)
        if found is None:
            return False
        active, saved_at = found
        age = max(0.0, time.time() - saved_at)
        if age >= self.max_saved_age:
            log.warning(
                "saved api keys not served: PostgreSQL confirmed them %s ago, the limit is %s "
                "(SENDINGIP_SAVED_KEYS_MAX_AGE_HOURS) path=%s",
                _duration(age),
                _duration(self.max_saved_age),
                self.saved,
            )
            return False
        self.authorizer.replace(active)
        log.warning(
            "serving the api keys saved %s ago (limit %s) active=%d path=%s until PostgreSQL answers; "
            "a key revoked since then is accepted until it does",
            _duration(age),
            _duration(self.max_saved_age),
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
                    self._outage.recovered()
                except DATABASE_UNAVAILABLE as exc:
                    # Keep the keys we have: a database outage must not lock every MTA out.
                    self._outage.failed(exc, f"keeping {len(self.authorizer)} keys")
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
        # A NOTIFY sent while the connection was down is lost: catch up (and, after a start
        # on saved keys, replace them with the live set at once).
        self._wake.set()


def _duration(seconds: float) -> str:
    """``42s``, ``17m``, ``5.2h``: an age as an operator reads it."""
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"
