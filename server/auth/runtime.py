"""The key authorizer of a running server: bootstrap, first load, live refresh."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from server.auth import saved
from server.auth.authorizer import KeyAuthorizer
from server.auth.bootstrap import ADMIN_KEY_FILE, ensure_admin_key
from server.auth.cache import KeyCache
from server.auth.config import AuthConfig
from store.config import DatabaseConfig
from store.outage import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)


class AuthRuntime:
    """``start()`` loads the keys before the server answers; ``stop()`` ends the refresh.

    With PostgreSQL unreachable at start the server still starts (the router can serve
    its snapshot) with the keys saved by its last run (``server/auth/saved.py``) if they
    are recent enough (``SENDINGIP_SAVED_KEYS_MAX_AGE_HOURS``); without, calls answer
    UNAVAILABLE until the first load succeeds, which the refresh loop retries.
    """

    def __init__(self, database: DatabaseConfig, config: AuthConfig) -> None:
        assert database.url is not None
        self.url = database.url
        self.authorizer = KeyAuthorizer()
        self.cache = KeyCache(
            self.url,
            self.authorizer,
            poll_interval=config.key_refresh_seconds,
            # Next to the routing snapshot (server/router/snapshot.py), for the same reason.
            saved=saved.path_for(database.data_dir / "router", self.url),
            max_saved_age=config.saved_keys_max_age_hours * 3600.0,
        )
        self.admin_key_file = database.data_dir / ADMIN_KEY_FILE
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> KeyAuthorizer:
        try:
            async with asyncio.timeout(15):
                # A fresh install (no key ever made) gets an admin key, printed once.
                await ensure_admin_key(self.url, key_file=self.admin_key_file)
                await self.cache.reload()
            log.info("api keys loaded active=%d", len(self.authorizer))
        except DATABASE_UNAVAILABLE as exc:
            if not await self.cache.load_saved():
                log.error("api keys not loaded: PostgreSQL unreachable (%s); calls are UNAVAILABLE until it is", exc)
        self._task = asyncio.create_task(self.cache.run(), name="api-keys-cache")
        self._task.add_done_callback(_report_failure)
        return self.authorizer

    async def stop(self) -> None:
        """Idempotent."""
        self.cache.stop()
        if self._task is not None:
            with contextlib.suppress(Exception):  # already reported by _report_failure
                await self._task


def _report_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        # The server keeps the keys it has; revocations stop taking effect until restart.
        log.error("api key refresh stopped: %r", task.exception(), exc_info=task.exception())
