"""The routing-table loader on a real PostgreSQL: paced reloads (server/router/loader.py)."""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
import pytest

from server.router.loader import Loader
from server.router.table import RoutingTable
from store.database import create_pool
from tests.support.routing import account_route, publish, seed_region

pytestmark = pytest.mark.integration


async def test_a_paced_reload_applies_everything_and_stays_fresh_while_it_runs(
    db: asyncpg.Connection, db_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await seed_region(db)
    await publish(db, *(account_route(f"acct-{i}", share=0.25) for i in range(300)))
    pool = await create_pool(db_url, size=2, min_size=1)
    table = RoutingTable()
    # Pages of 20, a 5 ms rest after every entry: the reload takes ~1.5 s.
    loader = Loader(pool, table, page_size=20, slice_seconds=0.0, rest_seconds=0.005)
    try:
        assert await loader.sync() == 301  # the first load is not paced
        assert len(table.accounts) == 300
        version = await publish(db, *(account_route(f"acct-{i}", share=0.75) for i in range(300)))

        monkeypatch.setattr("server.router.loader.PROGRESS_EVERY", 0.3)
        caplog.set_level(logging.INFO, logger="server.router.loader")
        sync = asyncio.create_task(loader.sync())
        seen_sync: set[float] = set()
        longest_gap = 0.0
        last = time.perf_counter()
        while not sync.done():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest_gap = max(longest_gap, now - last)
            last = now
            seen_sync.add(loader.last_sync)
        assert await sync == 300
    finally:
        await pool.close()

    assert table.version == version
    assert {a.routes["google"].dedicated_share for a in table.accounts.values()} == {0.75}
    # The reload was paced (it took a while), yet the loop never waited long for it...
    assert loader.last_reload_seconds > 1.0
    assert longest_gap < 0.1
    # ...and each page refreshed the table's age, so a long reload is not reported stale.
    assert len(seen_sync) >= 10
    assert "routing table reload in progress" in caplog.text


async def test_a_clock_gone_back_after_failover_reloads_the_whole_table(
    db: asyncpg.Connection, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    await seed_region(db)
    await publish(db, *(account_route(f"acct-{i}", share=0.25) for i in range(10)))
    kept = await db.fetchval("SELECT version FROM routing_clock")
    before = await db.fetchrow("SELECT kind, key, version, entry FROM routing_entries WHERE key = 'acct-0'")
    await publish(db, account_route("lost", share=0.25))
    await publish(db, account_route("acct-0", share=0.5))
    pool = await create_pool(db_url, size=2, min_size=1)
    table = RoutingTable()
    loader = Loader(pool, table, slice_seconds=0.0, rest_seconds=0.0)
    try:
        await loader.sync()
        assert table.version == kept + 2
        assert "lost" in table.accounts
        # A failover to an asynchronous replica that had not received the last two commits:
        # their entries are gone and the clock is back where it was.
        await db.execute("DELETE FROM routing_entries WHERE version > $1", kept)
        await db.execute("INSERT INTO routing_entries (kind, key, version, entry) VALUES ($1, $2, $3, $4)", *before)
        await db.execute("UPDATE routing_clock SET version = $1", kept)
        # New writes on the new primary reuse versions the router has already passed.
        version = await publish(db, account_route("new", share=0.75))
        assert version <= table.version

        caplog.set_level(logging.WARNING, logger="server.router.loader")
        await loader.sync()
    finally:
        await pool.close()

    assert "new" in table.accounts
    assert "lost" not in table.accounts
    assert ("account", "lost") not in table.raw
    assert table.accounts["acct-0"].routes["google"].dedicated_share == 0.25  # as the database has it
    assert table.version == version
    assert "routing clock" in caplog.text and "reloading the whole table" in caplog.text
