"""History reaches PostgreSQL exactly once, whatever happens between statement and commit."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from server.router.history_buffer import Flush, HistoryBuffer, Key, day_of
from server.router.history_flusher import HistoryFlusher, PostgresHistorySink
from server.router.spill import Spill, database_tag, read
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


class DownFor:
    """PostgreSQL unreachable for the first ``writes`` writes, then back."""

    def __init__(self, writes: int) -> None:
        self.down = writes
        self.written: list[Flush] = []

    async def write(self, flush: Flush) -> bool:
        if self.down:
            self.down -= 1
            raise ConnectionRefusedError("PostgreSQL is down")
        self.written.append(flush)
        return True


async def test_an_outage_is_logged_when_it_starts_and_when_it_ends_not_per_failed_write(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="server.router.history_flusher")
    buffer = HistoryBuffer(max_keys=10)
    sink = DownFor(5)
    flusher = HistoryFlusher(buffer, sink, interval=0.01)
    buffer.add((DAY, "acme", "192.0.2.1", "google"))
    for _ in range(5):
        assert not await flusher.flush_once()
    assert await flusher.flush_once()
    lines = [r.getMessage() for r in caplog.records if r.name == "server.router.history_flusher"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("history flush: PostgreSQL unreachable (ConnectionRefusedError: PostgreSQL is down)")
    assert f"flush_id={sink.written[0].flush_id}" in lines[0]  # the same flush, retried with its id
    assert lines[1].startswith("history flush: PostgreSQL answers again after") and "5 failed attempts" in lines[1]
    assert flusher.failed_writes == 5 and [f.picks for f in sink.written] == [1]


# -- the backlog on disk (issue 13, items 2 and 3) ------------------------------------


class Down:
    """PostgreSQL unreachable: every write fails, outcome unknown."""

    async def write(self, flush: Flush) -> bool:
        raise ConnectionRefusedError("PostgreSQL is down")


class LandsThenDown(PostgresHistorySink):
    """The first write commits but its answer is lost; PostgreSQL is down after it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, "router-test")
        self.landed: list[Flush] = []

    async def write(self, flush: Flush) -> bool:
        if not self.landed:
            await super().write(flush)
            self.landed.append(flush)
        raise ConnectionResetError("connection lost while reading the commit's answer")


def _open(folder: Path, router_id: str) -> tuple[Spill, list[Flush]]:
    return Spill.open(folder, "postgresql://test@db.example/sendingip", router_id)


def _killed(spill: Spill) -> None:
    """What SIGKILL does to a router's history file: nothing but the lock's release."""
    spill._close_out()
    os.close(spill._lock_fd)


def _on_disk(spill: Spill) -> Counter[Key]:
    counts: Counter[Key] = Counter()
    for flush in read(spill.path):
        counts.update(dict(flush.rows))
    return counts


def _pick_keys(buffer: HistoryBuffer, made: Counter[Key], n: int, account: str = "acme") -> None:
    for i in range(n):
        key = (DAY, account, f"192.0.2.{i % 5}", "google")
        buffer.add(key)
        made[key] += 1


async def test_during_an_outage_the_backlog_reaches_disk_every_interval_and_the_next_start_writes_it_once(
    db: asyncpg.Connection, db_url: str, tmp_path: Path
) -> None:
    made: Counter[Key] = Counter()
    pool = await asyncpg.create_pool(db_url, min_size=0, max_size=2)
    try:
        spill, restored = _open(tmp_path, "r1")
        assert restored == []
        buffer = HistoryBuffer(1000)
        sink = LandsThenDown(pool)
        flusher = HistoryFlusher(buffer, sink, interval=0.01, spill=spill, spill_path=spill.path)
        _pick_keys(buffer, made, 30)
        assert not await flusher.flush_once()  # landed, but the router cannot know
        await flusher.keep_on_disk()
        assert _on_disk(spill) == made  # the flush in flight, with its id
        for round_ in range(5):  # the outage goes on: each interval's picks are appended
            _pick_keys(buffer, made, 7 + round_, account=f"a{round_}")
            assert not await flusher.flush_once()
            await flusher.keep_on_disk()
            assert _on_disk(spill) == made
        assert not buffer.pending  # all of it is in the parked flush (and on disk)
        # Held keys count towards the bound while parked: the parked flush is the buffer's in_flight.
        assert flusher.backlog_keys == len(made)
        _pick_keys(buffer, made, 3, account="lost")  # after the last write to disk: what SIGKILL may lose
        _killed(spill)

        again, restored = _open(tmp_path, "r2")
        assert [f.flush_id for f in restored][:1] == [sink.landed[0].flush_id]
        assert not list(tmp_path.glob("history-*-r1.*"))  # taken over, then removed
        flusher = HistoryFlusher(
            HistoryBuffer(1000), PostgresHistorySink(pool, "router-test"), spill=again, spill_path=again.path
        )
        flusher.restore(restored)
        assert await flusher.drain(5)
        assert flusher.replayed == 1  # the flush that had landed adds nothing
        await flusher.keep_on_disk()
        assert not again.path.exists()  # all written: the file goes
        lost = Counter({k: n for k, n in made.items() if k[1] == "lost"})
        assert await _counted(db) == {k[1:]: n for k, n in (made - lost).items()}
        again.close([])
    finally:
        await pool.close()


async def test_a_live_routers_history_file_is_never_taken_over(tmp_path: Path) -> None:
    live, _ = _open(tmp_path, "live")
    buffer = HistoryBuffer(1000)
    flusher = HistoryFlusher(buffer, Down(), spill=live)
    made: Counter[Key] = Counter()
    _pick_keys(buffer, made, 12)
    assert not await flusher.flush_once()
    await flusher.keep_on_disk()
    other, taken = _open(tmp_path, "other")  # another router starting on the same host
    assert taken == [] and _on_disk(live) == made
    other.close([])
    # The same id on the same host (SENDINGIP_ROUTER_ID shared by mistake): its own name, not the other's.
    twin, taken = _open(tmp_path, "live")
    assert taken == [] and twin.path != live.path and _on_disk(live) == made
    twin.close([])

    _killed(live)
    heir, taken = _open(tmp_path, "heir")
    assert sum(f.picks for f in taken) == 12 and not live.path.exists()
    heir.close(taken)  # a clean stop with PostgreSQL still away: kept for the next one
    last, taken = _open(tmp_path, "last")
    assert sum(f.picks for f in taken) == 12
    last.close([])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"history-{database_tag('postgresql://test@db.example/sendingip')}.lock"
    ]


async def test_the_history_file_of_the_version_before_is_taken_over(tmp_path: Path) -> None:
    """Before issue 13 a router kept one file per database, written only on SIGTERM."""
    flush_id = "6f1c3a52-3c4b-4f39-9d51-3f1f1b0c2a10"
    legacy = tmp_path / f"history-{database_tag('postgresql://test@db.example/sendingip')}.json"
    rows = [[DAY, "acme", "192.0.2.1", "google", 4], [DAY, "new", "192.0.2.2", "other", 1]]
    flushes = [{"flush_id": flush_id, "rows": rows, "new_accounts": [["new", "us-east"]], "picks": 5}]
    legacy.write_text(json.dumps({"format": 1, "saved_at": 0, "flushes": flushes}))
    spill, taken = _open(tmp_path, "r1")
    assert [(str(f.flush_id), f.picks, f.new_accounts) for f in taken] == [(flush_id, 5, [("new", "us-east")])]
    assert not legacy.exists() and spill.path.stat().st_mode & 0o077 == 0
    spill.close([])


async def test_a_line_cut_short_by_a_crash_is_skipped_and_the_rest_is_kept(tmp_path: Path) -> None:
    spill, _ = _open(tmp_path, "r1")
    buffer = HistoryBuffer(1000)
    flusher = HistoryFlusher(buffer, Down(), spill=spill)
    made: Counter[Key] = Counter()
    _pick_keys(buffer, made, 10)
    assert not await flusher.flush_once()
    await flusher.keep_on_disk()
    with spill.path.open("ab") as f:
        f.write(b'{"flush_id":"')  # SIGKILL in the middle of an append
    _killed(spill)
    heir, taken = _open(tmp_path, "heir")
    assert sum(f.picks for f in taken) == 10
    heir.close([])


async def test_a_long_outage_rewrites_the_file_instead_of_growing_it(tmp_path: Path) -> None:
    spill, _ = _open(tmp_path, "r1")
    buffer = HistoryBuffer(100_000)
    flusher = HistoryFlusher(buffer, Down(), spill=spill)
    made: Counter[Key] = Counter()
    _pick_keys(buffer, made, 5)
    assert not await flusher.flush_once()
    sizes = []
    for _ in range(40):  # 1,000 keys an interval, the same ones again and again
        for i in range(1000):
            key = (DAY, f"acct{i}", "192.0.2.1", "other")
            buffer.add(key)
            made[key] += 1
        await flusher.keep_on_disk()
        sizes.append(spill.path.stat().st_size)
        assert _on_disk(spill) == made
    # Appended alone, it would reach 40 times its first size; rewritten whole now and then
    # (once it holds more than twice what is owed, plus some slack), it stays bounded.
    assert max(sizes) < 15 * sizes[0], sizes
    _killed(spill)
