"""The saved API keys record when PostgreSQL last confirmed them, not only when they last
changed: their age is what SENDINGIP_SAVED_KEYS_MAX_AGE_HOURS bounds, so a server that ran
for weeks without a key change must not leave a weeks-old file behind."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import pytest

from server.auth import cache as cache_module
from server.auth.authorizer import KeyAuthorizer
from server.auth.cache import KeyCache
from server.auth.store import create_key

pytestmark = pytest.mark.integration


def _saved_at(path: Path) -> float:
    return float(json.loads(path.read_text())["saved_at"])


async def test_unchanged_keys_are_saved_again_once_a_minute_not_at_every_reload(
    db_url: str, db: asyncpg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await create_key(db, ["route"])
    path = tmp_path / "keys.json"
    cache = KeyCache(db_url, KeyAuthorizer(), saved=path)
    await cache.reload()
    first = _saved_at(path)
    await cache.reload()  # within the minute: no write
    assert _saved_at(path) == first
    monkeypatch.setattr(cache_module, "RESAVE_EVERY", 0.0)  # as if the minute had passed
    await cache.reload()
    assert _saved_at(path) > first
