"""History partitioned by day (migration 0009): no insert is lost for want of a partition,
retention drops whole days and keeps the window, the migration keeps every row, and a run
in chunks decides every account."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import asyncpg
import pytest

from store import queries
from store.database import connect
from store.migrate import apply_migrations
from tests.support.databases import DatabaseFactory, migrate_through
from tests.support.routing import seed_region
from workers.rebalance import partitions
from workers.rebalance.run import PRUNE_MARGIN_DAYS, rebalance

pytestmark = pytest.mark.integration

D0 = date(2026, 3, 1)
WHERE_IS = "SELECT tableoid::regclass::text FROM daily_history WHERE day = $1 AND account_id = $2"
SUMS = (
    "SELECT count(*), sum(imported), sum(counted), "
    "sum(hashtext(day::text || account_id || ip || mailbox_provider || imported || '/' || counted)) "
    "FROM daily_history"
)
OUTCOME_SUMS = (
    "SELECT count(*), sum(delivered), sum(deferred), sum(bounced), sum(complained), sum(throttled), "
    "sum(hashtext(day::text || account_id || ip || mailbox_provider)) FROM daily_outcomes"
)


async def _flush(db: asyncpg.Connection, flush_id: uuid.UUID, day: date, account: str, n: int) -> int:
    """One router flush of ``n`` picks of ``account`` on ``day``, as the routers write it."""
    applied: int = await db.fetchval(
        queries.load()["router_flush_history"],
        flush_id,
        "router-test",
        [day],
        [account],
        ["192.0.2.1"],
        ["google"],
        [n],
        [account],
        ["us-east"],
    )
    return applied


async def test_a_flush_for_a_day_without_a_partition_is_kept_and_moves_into_it(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    """The DEFAULT partition takes the day; creating the day's partition moves the row; the
    flush stays exactly-once, and later flushes add to the moved row."""
    day = date(2026, 4, 10)
    first = uuid.uuid4()
    assert await _flush(db, first, day, "acme", 5) == 1
    assert await db.fetchval(WHERE_IS, day, "acme") == "daily_history_default"

    assert await partitions.ensure_partitions(pool, day - timedelta(days=1), day + timedelta(days=1)) == 6
    assert await partitions.ensure_partitions(pool, day - timedelta(days=1), day + timedelta(days=1)) == 0
    assert await db.fetchval(WHERE_IS, day, "acme") == "daily_history_20260410"
    assert await db.fetchval("SELECT count(*) FROM daily_history_default") == 0

    assert await _flush(db, first, day, "acme", 5) == 0  # a retried flush: recognised, not added
    assert await _flush(db, uuid.uuid4(), day, "acme", 7) == 1
    assert await db.fetch("SELECT day, account_id, counted FROM daily_history") == [(day, "acme", 12)]


async def test_an_import_far_from_every_partition_lands_in_default(db: asyncpg.Connection) -> None:
    await db.execute(
        "INSERT INTO daily_history (day, account_id, ip, mailbox_provider, imported) "
        "VALUES ('2019-01-01', 'acme', '', 'google', 3)"
    )
    assert await db.fetchval(WHERE_IS, date(2019, 1, 1), "acme") == "daily_history_default"


async def _partition_days(db: asyncpg.Connection, table: str) -> list[date]:
    names = await db.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = $1::regclass AND c.relname <> $1 || '_default' ORDER BY c.relname",
        table,
    )
    return [date(int(n[0][-8:-4]), int(n[0][-4:-2]), int(n[0][-2:])) for n in names]


async def test_a_run_drops_the_days_past_retention_and_keeps_the_window(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    await seed_region(db, addresses=("198.51.100.1",), inventory=(), publish=False)
    await db.execute("INSERT INTO accounts (account_id, region) VALUES ('acme', 'us-east')")
    oldest = D0 - timedelta(days=50)
    await partitions.ensure_partitions(pool, oldest, D0 - timedelta(days=1))
    await db.execute(
        "INSERT INTO daily_history (day, account_id, ip, mailbox_provider, imported) "
        "SELECT d::date, 'acme', '', 'google', 100 FROM generate_series($1::date, $2::date, interval '1 day') d",
        oldest,
        D0 - timedelta(days=1),
    )
    await db.execute(
        "INSERT INTO daily_outcomes (day, account_id, ip, mailbox_provider, delivered) "
        "SELECT d::date, 'acme', '192.0.2.1', 'google', 9 FROM generate_series($1::date, $2::date, interval '1 day') d",
        oldest,
        D0 - timedelta(days=1),
    )
    await db.execute(  # an old import in DEFAULT
        "INSERT INTO daily_history (day, account_id, ip, mailbox_provider, imported) "
        "VALUES ('2020-01-01', 'acme', '', 'google', 1)"
    )

    report = await rebalance(pool, D0)

    keep_from = D0 - timedelta(days=30 + PRUNE_MARGIN_DAYS)  # the default window, 30 days
    kept = [
        keep_from + timedelta(days=i) for i in range((D0 + timedelta(days=partitions.AHEAD_DAYS) - keep_from).days + 1)
    ]
    assert await _partition_days(db, "daily_history") == kept
    assert await _partition_days(db, "daily_outcomes") == kept
    assert await db.fetchval("SELECT count(*) FROM daily_history_default") == 0
    assert await db.fetchval("SELECT min(day) FROM daily_history") == keep_from
    assert await db.fetchval("SELECT sum(imported) FROM daily_history") == 100 * (D0 - keep_from).days
    assert await db.fetchval("SELECT count(*) FROM daily_outcomes") == (D0 - keep_from).days
    assert report.accounts == 1
    figures = await db.fetchval("SELECT figures->>'volume_30d' FROM accounts WHERE account_id = 'acme'")
    assert figures == str(100 * 30)


async def test_the_migration_from_a_populated_0008_database_keeps_every_row(databases: DatabaseFactory) -> None:
    url = await databases.create(migrated=False)
    async with connect(url) as conn:
        await migrate_through(conn, 8)
        today: date = await conn.fetchval("SELECT current_date")
        await conn.execute(  # 40 recent days (a partition each) and 3 of long ago (DEFAULT)
            "INSERT INTO daily_history (day, account_id, ip, mailbox_provider, imported, counted) "
            "SELECT d::date, 'acct-' || a, CASE WHEN a % 2 = 0 THEN '' ELSE '192.0.2.' || a END, p, a * 10, a + 1 "
            "FROM generate_series($1::date, $2::date, interval '1 day') d, generate_series(1, 20) a, "
            "unnest(ARRAY['google', 'yahoo']) p "
            "UNION ALL SELECT d::date, 'old', '', 'google', 5, 6 FROM generate_series($3::date, $4::date, interval '1 day') d",
            today - timedelta(days=38),
            today + timedelta(days=1),
            today - timedelta(days=1002),
            today - timedelta(days=1000),
        )
        await conn.execute(
            "INSERT INTO daily_outcomes (day, account_id, ip, mailbox_provider, delivered, deferred, bounced, complained, throttled) "
            "SELECT day, account_id, ip, mailbox_provider, imported, counted, 1, 2, 3 FROM daily_history WHERE ip <> ''"
        )
        before = (tuple(await conn.fetchrow(SUMS)), tuple(await conn.fetchrow(OUTCOME_SUMS)))

        assert [m.name for m in await apply_migrations(conn)][:1] == ["history_partitions"]

        after = (tuple(await conn.fetchrow(SUMS)), tuple(await conn.fetchrow(OUTCOME_SUMS)))
        assert after == before
        assert before[0][0] == 40 * 20 * 2 + 3
        assert len(await _partition_days(conn, "daily_history")) == 40
        assert len(await _partition_days(conn, "daily_outcomes")) == 40
        assert await conn.fetchval("SELECT count(*) FROM daily_history_default") == 3
        assert await conn.fetchval("SELECT count(*) FROM daily_outcomes_default") == 0
        assert await conn.fetchval("SELECT to_regclass('daily_history_unpartitioned')") is None


async def test_a_run_in_chunks_decides_every_account_and_creates_those_seen_only_in_history(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    """Chunks of 2: history-only accounts between two chunks and after the last one are
    created and decided like the others."""
    await seed_region(db, addresses=("198.51.100.1",), inventory=(), publish=False)
    await db.execute(
        "INSERT INTO accounts (account_id, region) SELECT 'a' || i, 'us-east' FROM generate_series(1, 5) i"
    )
    await db.execute(
        "INSERT INTO daily_history (day, account_id, ip, mailbox_provider, imported) "
        "SELECT $1::date - d, a, '', 'google', 1000 FROM generate_series(1, 30) d, "
        "unnest(ARRAY['a1', 'a2', 'a2x', 'a3', 'a4', 'a5', 'zz']) a",
        D0,
    )
    report = await rebalance(pool, D0, chunk_accounts=2)
    assert (report.accounts, report.failed, report.stopped) == (7, 0, False)
    decided = await db.fetch("SELECT account_id, figures->>'volume_30d' AS v FROM accounts ORDER BY account_id")
    assert [(r["account_id"], r["v"]) for r in decided] == [
        (a, "30000") for a in ("a1", "a2", "a2x", "a3", "a4", "a5", "zz")
    ]
