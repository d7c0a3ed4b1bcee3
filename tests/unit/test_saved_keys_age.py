"""A server that starts while PostgreSQL is down serves the keys it saved only if PostgreSQL
confirmed them recently enough (SENDINGIP_SAVED_KEYS_MAX_AGE_HOURS), and says how old they
are: a key revoked after they were saved is accepted until PostgreSQL answers."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from server.auth import keys
from server.auth import saved as saved_keys
from server.auth.authorizer import ActiveKey, KeyAuthorizer
from server.auth.cache import KeyCache
from server.auth.config import AuthConfig

URL = "postgresql://postgres@127.0.0.1:1/sendingip"


def _saved(path: Path, age: float) -> keys.NewKey:
    new = keys.generate()
    saved_keys.save(path, URL, [ActiveKey(new.key_id, new.secret_hash, frozenset({"route"}), None)])
    document = json.loads(path.read_text())
    document["saved_at"] = time.time() - age
    path.write_text(json.dumps(document))
    return new


def _md(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


async def test_keys_saved_within_the_limit_are_served_and_the_log_says_how_old(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "keys.json"
    new = _saved(path, age=3 * 3600)
    authorizer = KeyAuthorizer()
    cache = KeyCache(URL, authorizer, saved=path, max_saved_age=4 * 3600)
    assert await cache.load_saved() is True
    assert authorizer.check(_md(new.token), "route") is None
    assert "serving the api keys saved 3.0h ago (limit 4.0h)" in caplog.text
    assert "a key revoked since then is accepted" in caplog.text


async def test_keys_saved_longer_ago_than_the_limit_are_not_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    path = tmp_path / "keys.json"
    new = _saved(path, age=25 * 3600)
    authorizer = KeyAuthorizer()
    cache = KeyCache(URL, authorizer, saved=path, max_saved_age=24 * 3600)
    assert await cache.load_saved() is False
    assert not authorizer.loaded  # every call UNAVAILABLE until PostgreSQL answers
    assert authorizer.check(_md(new.token), "route") is not None
    assert "saved api keys not served: PostgreSQL confirmed them 25.0h ago, the limit is 24.0h" in caplog.text
    assert "SENDINGIP_SAVED_KEYS_MAX_AGE_HOURS" in caplog.text


async def test_a_limit_of_zero_never_serves_saved_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    _saved(path, age=0)
    cache = KeyCache(URL, KeyAuthorizer(), saved=path, max_saved_age=0)
    assert await cache.load_saved() is False


def test_the_limit_is_a_setting_in_hours() -> None:
    assert AuthConfig.from_env({}).saved_keys_max_age_hours == 24
    assert AuthConfig.from_env({"SENDINGIP_SAVED_KEYS_MAX_AGE_HOURS": "1.5"}).saved_keys_max_age_hours == 1.5
    assert AuthConfig.from_env({"SENDINGIP_SAVED_KEYS_MAX_AGE_HOURS": "0"}).saved_keys_max_age_hours == 0
    for bad in ("-1", "soon", "inf", "nan"):
        with pytest.raises(ValueError, match="SENDINGIP_SAVED_KEYS_MAX_AGE_HOURS"):
            AuthConfig.from_env({"SENDINGIP_SAVED_KEYS_MAX_AGE_HOURS": bad})
