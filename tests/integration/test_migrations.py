"""Migrations give exactly the schema the code expects, and run safely side by side."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from store import queries, schema
from store.database import connect
from store.migrate import apply_migrations, available_migrations, pending_migrations
from tests.support.databases import DatabaseFactory


async def test_all_migrations_on_an_empty_database_give_the_snapshot(databases: DatabaseFactory) -> None:
    url = await databases.create(migrated=False)
    async with connect(url) as conn:
        assert [m.version for m in await pending_migrations(conn)] == [m.version for m in available_migrations()]
        await apply_migrations(conn)
        assert await pending_migrations(conn) == []
        described = await schema.describe(conn)
    assert described == schema.expected(), (
        "the migrated schema differs from store/schema.snapshot; "
        "if a migration changed it on purpose, run `sendingip migrate --write-snapshot`"
    )


async def test_every_named_query_is_valid_against_the_schema(db: asyncpg.Connection) -> None:
    for name, sql in queries.load().items():
        try:
            await db.prepare(sql)
        except asyncpg.PostgresError as exc:
            pytest.fail(f"query {name!r} does not prepare: {exc}")


async def test_concurrent_runs_apply_each_migration_once(databases: DatabaseFactory) -> None:
    url = await databases.create(migrated=False)

    async def run() -> list[int]:
        async with connect(url) as conn:
            return [m.version for m in await apply_migrations(conn)]

    results = await asyncio.gather(*(run() for _ in range(4)))
    everything = [m.version for m in available_migrations()]
    assert sorted(results, key=len) == [[], [], [], everything]
    async with connect(url) as conn:
        rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in rows] == everything
