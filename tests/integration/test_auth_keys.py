"""API keys in PostgreSQL: bootstrap, create/revoke, and a server's cache following them."""

from __future__ import annotations

import asyncio
import io

import asyncpg
import grpc
import pytest

from server.auth.authorizer import KeyAuthorizer
from server.auth.bootstrap import ensure_admin_key
from server.auth.cache import KeyCache
from server.auth.store import create_key, list_keys, revoke_key
from store.database import connect

pytestmark = pytest.mark.integration


def _md(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


async def test_only_a_hash_of_the_secret_is_stored(db: asyncpg.Connection) -> None:
    new, info = await create_key(db, ["view", "route"], ["b", "a"], "mta")
    assert info.permissions == ("route", "view") and info.accounts == ("a", "b")
    row = await db.fetchrow("SELECT * FROM api_keys WHERE key_id = $1", new.key_id)
    assert bytes(row["secret_hash"]) == new.secret_hash
    assert new.secret not in str(dict(row))


async def test_bootstrap_makes_one_admin_key_even_when_servers_start_together(
    db_url: str, db: asyncpg.Connection
) -> None:
    outs = [io.StringIO() for _ in range(4)]
    made = await asyncio.gather(*(ensure_admin_key(db_url, out) for out in outs))
    assert sum(m is not None for m in made) == 1
    printed = "".join(o.getvalue() for o in outs)
    assert printed.count("admin key (shown once): sip_") == 1
    (info,) = await list_keys(db)
    assert info.permissions == ("route", "view", "admin") and info.accounts is None
    # Revoking every key does not bring a bootstrap key back.
    await revoke_key(db, info.key_id)
    assert await ensure_admin_key(db_url, io.StringIO()) is None


async def test_revocation_reaches_a_running_server_by_notify_without_restart(
    db_url: str, db: asyncpg.Connection
) -> None:
    new, _ = await create_key(db, ["route"])
    authorizer = KeyAuthorizer()
    # A poll interval far longer than the test: only the NOTIFY can deliver the change.
    cache = KeyCache(db_url, authorizer, poll_interval=600)
    await cache.reload()
    task = asyncio.create_task(cache.run())
    try:
        assert authorizer.check(_md(new.token), "route") is None
        async with asyncio.timeout(10):
            while cache.reloads < 2:  # the reload after LISTEN connected
                await asyncio.sleep(0.02)
        later, _ = await create_key(db, ["view"])
        async with asyncio.timeout(10):
            while authorizer.check(_md(later.token), "view") is not None:
                await asyncio.sleep(0.02)
        assert await revoke_key(db, new.key_id) is not None
        async with asyncio.timeout(10):
            while authorizer.check(_md(new.token), "route") is None:
                await asyncio.sleep(0.02)
        denial = authorizer.check(_md(new.token), "route")
        assert denial is not None and denial[0] == grpc.StatusCode.UNAUTHENTICATED
        assert await revoke_key(db, "nosuchkey1") is None
    finally:
        cache.stop()
        await task


async def test_the_poll_catches_a_change_made_without_notify(db_url: str, db: asyncpg.Connection) -> None:
    new, _ = await create_key(db, ["route"])
    authorizer = KeyAuthorizer()
    cache = KeyCache(db_url, authorizer, poll_interval=0.1)
    await cache.reload()
    task = asyncio.create_task(cache.run())
    try:
        async with connect(db_url) as other:  # e.g. an operator with psql
            await other.execute("UPDATE api_keys SET revoked_at = now() WHERE key_id = $1", new.key_id)
        async with asyncio.timeout(10):
            while authorizer.check(_md(new.token), "route") is None:
                await asyncio.sleep(0.02)
    finally:
        cache.stop()
        await task
