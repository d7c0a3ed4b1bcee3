"""History reaches PostgreSQL exactly once, whatever happens between statement and commit."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from server.router.history import Flush, HistoryBuffer, HistoryFlusher, PostgresHistorySink, day_of
from store.database import connect

pytestmark = pytest.mark.integration

DAY = int(time.time() // 86400)


class KillBeforeCommit(PostgresHistorySink):
    """Runs the statement, then loses the connection before COMMIT: outcome unknown to us."""

    def __init__(self, pool: asyncpg.Pool, admin_url: str, kills: int) -> None:
        super().__init__(pool, "router-test")
        self.admin_url = admin_url
        self.kills = kills
        self.executed_then_killed = 0

    async def write(self, flush: Flush) -> bool:
        if not self.kills:
            return await super().write(flush)
        self.kills -= 1
        async with connect(self.admin_url) as conn:
            tx = conn.transaction()
            await tx.start()
            await self.execute(conn, flush)
            async with connect(self.admin_url) as admin:
                await admin.execute("SELECT pg_terminate_backend($1)", conn.get_server_pid())
            while not conn.is_closed():  # let the client notice, as it would in real life
                await asyncio.sleep(0.01)
            self.executed_then_killed += 1
            await tx.commit()  # raises: the connection is gone
        raise AssertionError("commit on a terminated connection succeeded")


class LoseAnswerAfterCommit(PostgresHistorySink):
    """Commits, then reports a lost connection: the retry must be recognised."""

    def __init__(self, pool: asyncpg.Pool, losses: int) -> None:
        super().__init__(pool, "router-test")
        self.losses = losses

    async def write(self, flush: Flush) -> bool:
        applied = await super().write(flush)
        if self.losses:
            self.losses -= 1
            raise ConnectionResetError("connection lost while reading the commit's answer")
        return applied


async def _counted(db: asyncpg.Connection) -> dict[tuple[str, str, str], int]:
    rows = await db.fetch(
        "SELECT account_id, ip, mailbox_provider, counted FROM daily_history WHERE day = $1", day_of(DAY)
    )
    return {(r["account_id"], r["ip"], r["mailbox_provider"]): r["counted"] for r in rows}


def _picks(buffer: HistoryBuffer, n: int, account: str = "acme") -> None:
    for i in range(n):
        buffer.add((DAY, account, f"192.0.2.{i % 3}", "google"))


async def test_a_flush_killed_between_statement_and_commit_is_retried_and_counted_once(
    db: asyncpg.Connection, db_url: str
) -> None:
    pool = await asyncpg.create_pool(db_url, min_size=0, max_size=2)
    try:
        buffer = HistoryBuffer(1000)
        sink = KillBeforeCommit(pool, db_url, kills=2)
        flusher = HistoryFlusher(buffer, sink, interval=0.01)
        _picks(buffer, 30)
        assert not await flusher.flush_once()
        first_id = flusher.in_flight.flush_id if flusher.in_flight else None
        _picks(buffer, 6, account="later")  # picks made during the outage wait for the next flush
        assert not await flusher.flush_once()
        assert flusher.in_flight is not None and flusher.in_flight.flush_id == first_id
        assert await flusher.flush_once()  # the same flush, third attempt
        assert await flusher.flush_once()  # the picks made meanwhile
        assert sink.executed_then_killed == 2
        assert await _counted(db) == {
            ("acme", "192.0.2.0", "google"): 10,
            ("acme", "192.0.2.1", "google"): 10,
            ("acme", "192.0.2.2", "google"): 10,
            ("later", "192.0.2.0", "google"): 2,
            ("later", "192.0.2.1", "google"): 2,
            ("later", "192.0.2.2", "google"): 2,
        }
        assert await db.fetchval("SELECT count(*) FROM history_flushes") == 2
    finally:
        await pool.close()


async def test_a_flush_whose_commit_answer_was_lost_is_not_counted_twice(db: asyncpg.Connection, db_url: str) -> None:
    pool = await asyncpg.create_pool(db_url, min_size=0, max_size=2)
    try:
        buffer = HistoryBuffer(1000)
        flusher = HistoryFlusher(buffer, LoseAnswerAfterCommit(pool, losses=3), interval=0.01)
        _picks(buffer, 9)
        for _ in range(3):
            assert not await flusher.flush_once()
        assert await flusher.flush_once()
        assert flusher.replayed == 1
        assert await _counted(db) == {(("acme", f"192.0.2.{i}", "google")): 3 for i in range(3)}
        assert await db.fetchval("SELECT count(*) FROM history_flushes") == 1
        # Another flush adds to the same keys.
        _picks(buffer, 3)
        assert await flusher.flush_once()
        assert await _counted(db) == {(("acme", f"192.0.2.{i}", "google")): 4 for i in range(3)}
    finally:
        await pool.close()


async def test_unknown_accounts_are_created_in_an_existing_region_only(db: asyncpg.Connection, db_url: str) -> None:
    await db.execute("INSERT INTO regions (region) VALUES ('us-east')")
    pool = await asyncpg.create_pool(db_url, min_size=0, max_size=2)
    try:
        buffer = HistoryBuffer(1000)
        flusher = HistoryFlusher(buffer, PostgresHistorySink(pool, "router-test"))
        buffer.add((DAY, "newcomer", "192.0.2.1", "other"))
        buffer.unknown_account("newcomer", "us-east")
        buffer.add((DAY, "lost", "192.0.2.1", "other"))
        buffer.unknown_account("lost", "nowhere")
        assert await flusher.drain(5)
        rows = await db.fetch("SELECT account_id, region, management_type FROM accounts")
        assert [tuple(r) for r in rows] == [("newcomer", "us-east", "general")]
        assert len(await _counted(db)) == 2  # history is kept for both
    finally:
        await pool.close()


async def test_during_an_outage_memory_is_bounded_and_held_keys_keep_counting(db_url: str) -> None:
    pool = await asyncpg.create_pool("postgresql://nobody@127.0.0.1:9/none", min_size=0, max_size=1)
    buffer = HistoryBuffer(max_keys=4)
    flusher = HistoryFlusher(buffer, PostgresHistorySink(pool, "router-test", timeout=2), interval=0.01)
    try:
        for i in range(6):
            buffer.add((DAY, f"a{i}", "192.0.2.1", "other"))
        assert buffer.dropped == 2  # a4 and a5: over the bound of 4 keys
        assert not await flusher.flush_once()  # a0..a3 now in flight, outcome unknown
        buffer.add((DAY, "a0", "192.0.2.1", "other"))  # a key in flight keeps counting
        buffer.add((DAY, "a9", "192.0.2.1", "other"))  # a new key is dropped
        assert buffer.pending == {(DAY, "a0", "192.0.2.1", "other"): 1}
        assert (buffer.dropped, flusher.backlog_keys) == (3, 5)
        assert flusher.lag > 0
        assert not await flusher.drain(0.2)  # gives up after its time, saying how many picks
    finally:
        await pool.close()
    # The database is back: the very same flush lands, then the rest.
    pool = await asyncpg.create_pool(db_url, min_size=0, max_size=1)
    try:
        assert flusher.in_flight is not None
        flusher.sink = PostgresHistorySink(pool, "router-test")
        assert await flusher.drain(5)
        async with pool.acquire() as conn:
            counted = await _counted(conn)
        assert counted == {("a0", "192.0.2.1", "other"): 2, **{(f"a{i}", "192.0.2.1", "other"): 1 for i in (1, 2, 3)}}
        assert flusher.backlog_keys == 0 and flusher.lag == 0
    finally:
        await pool.close()
