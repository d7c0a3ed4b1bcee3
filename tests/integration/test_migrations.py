"""Migrations give exactly the schema the code expects, and run safely side by side."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from store import queries, schema
from store.database import connect
from store.migrate import apply_migrations, available_migrations, pending_migrations
from store.policy_columns import policy_from_columns
from store.policy_settings import Policy
from tests.support.databases import DatabaseFactory, migrate_through


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


async def test_the_v2_policy_migration_keeps_the_stored_settings_and_adds_the_defaults(
    databases: DatabaseFactory,
) -> None:
    """A v1 database (migrations 1-4) with a changed policy reads, after 0005, as that policy
    with SPEC §2's v2 defaults (store/policy_settings.py): nothing an operator set is lost."""
    url = await databases.create(migrated=False)
    q = queries.load()
    async with connect(url) as conn:
        await migrate_through(conn, 4)
        await conn.execute("UPDATE policy SET dedicated_threshold_30d = 300000, warmup_schedule = '{100,1000}'")
        assert [m.name for m in await apply_migrations(conn)][:1] == ["policy_v2"]
        policy = policy_from_columns(await conn.fetchrow(q["worker_policy"]))
    assert policy == Policy(dedicated_threshold_30d=300_000, warmup_schedule=(100, 1000))
    assert (policy.advance_fraction, policy.warmup_rules, policy.provider_schedules) == (0.9, "v2", {})


async def test_general_ips_from_before_the_ramp_in_migration_count_as_warm(databases: DatabaseFactory) -> None:
    """0006 (SPEC rule 12): IPs already in a general pool carry traffic: warm (stage NULL)."""
    url = await databases.create(migrated=False)
    async with connect(url) as conn:
        await migrate_through(conn, 5)
        await conn.execute("INSERT INTO regions (region) VALUES ('us-east')")
        await conn.execute(
            "INSERT INTO pools (pool_id, region, pool_type) VALUES ('general:us-east', 'us-east', 'general')"
        )
        await conn.execute(
            "INSERT INTO ip_addresses (address, region, state, pool_id) VALUES ('192.0.2.1', 'us-east', 'general', 'general:us-east')"
        )
        assert [m.name for m in await apply_migrations(conn)][:1] == ["general_pool_ramp"]
        assert await conn.fetchval("SELECT general_stage FROM ip_addresses") is None
