"""History, the database's side: the buffer's picks written to PostgreSQL exactly once.

About once a second the flusher takes everything the buffer (``history_buffer.py``)
holds as one ``Flush`` with a fresh id and writes it in one statement that also records
the id in ``history_flushes``. When the outcome of a write is unknown (connection lost,
timeout), the same ``Flush`` — same id, same rows — is retried until it lands; a write
whose id is already recorded adds nothing, so no pick is counted twice. Picks made
meanwhile wait for the next flush. A PostgreSQL outage is logged as one line when it
starts and one when it ends (``store/outage.py``), not a line per failed write.

While the backlog is not being written (a write failed, or has taken more than half an
interval), the flusher keeps it on local disk every interval (``spill.py``), so that a
SIGKILL during an outage loses at most one interval of picks: the flush in flight goes
to disk once, with its id, and the picks made since are taken out of the buffer into
one *parked* flush that grows until its turn — it was never sent, so it may grow — and
each interval's addition is appended under the parked flush's id. The next start writes
what is on disk with the same ids. Disk writes happen only then, in a thread; the hot
path (``HistoryBuffer.add``) is the same with or without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol

import asyncpg

from server.router.history_buffer import Flush, HistoryBuffer, Key, day_of, sorted_rows
from store import queries, routing_store
from store.outage import DATABASE_UNAVAILABLE, Outage

log = logging.getLogger(__name__)

#: Errors after which a write's outcome is unknown (or it surely failed): retry it.
RETRYABLE = (*DATABASE_UNAVAILABLE, asyncpg.InternalClientError)
#: Rows the history file may hold beyond twice what is owed before it is rewritten whole.
COMPACT_SLACK_ROWS = 10_000


class HistorySink(Protocol):
    async def write(self, flush: Flush) -> bool:
        """Apply ``flush``; False when its id was already recorded (nothing added)."""
        ...


class Backlog(Protocol):
    """Local disk for history not written yet (``spill.Spill``). Blocking: called in a thread."""

    def append(self, parts: Sequence[Flush]) -> None:
        """Add parts of flushes; the parts of one id add up."""
        ...

    def replace(self, flushes: Sequence[Flush]) -> None:
        """Keep exactly ``flushes``."""
        ...

    def clear(self) -> None:
        """Nothing is owed any more."""
        ...


class Parked:
    """Picks taken out of the buffer while the flushes before them are not written: one
    flush that grows every interval until its turn. It has never been sent, so growing it
    cannot count a pick twice; on disk its additions are parts under its one id."""

    __slots__ = ("accounts", "counts", "flush_id", "oldest", "picks")

    def __init__(self, held: dict[Key, int], oldest: float) -> None:
        self.flush_id = uuid.uuid4()
        #: Starts with the keys in flight at 0: ``counts`` is the buffer's ``in_flight``
        #: meanwhile, so the bound on keys counts both. Rows at 0 are not written.
        self.counts: dict[Key, int] = dict.fromkeys(held, 0)
        self.accounts: dict[str, str] = {}
        self.picks = 0
        self.oldest = oldest

    def add(self, pending: dict[Key, int], accounts: dict[str, str]) -> Flush:
        """Add what the buffer held; returns the addition, as a part for the disk."""
        counts = self.counts
        for key, n in pending.items():
            counts[key] = counts.get(key, 0) + n
        self.accounts.update(accounts)
        picks = sum(pending.values())
        self.picks += picks
        return Flush(self.flush_id, list(pending.items()), sorted(accounts.items()), picks, self.oldest)

    def freeze(self) -> Flush:
        rows = sorted_rows({key: n for key, n in self.counts.items() if n})
        return Flush(self.flush_id, rows, sorted(self.accounts.items()), self.picks, self.oldest)

    def as_part(self) -> Flush:
        """All of it, unsorted (for the disk: copied at C speed, zeros skipped there)."""
        return Flush(self.flush_id, list(self.counts.items()), sorted(self.accounts.items()), self.picks, self.oldest)


class PostgresHistorySink:
    def __init__(self, pool: asyncpg.Pool, router_id: str, *, timeout: float = 10.0) -> None:
        self.pool = pool
        self.router_id = router_id
        self.timeout = timeout

    async def write(self, flush: Flush) -> bool:
        # A write that times out has an unknown outcome, like a lost connection: the
        # flusher retries it with the same id.
        async with asyncio.timeout(self.timeout), self.pool.acquire() as conn, conn.transaction():
            return await self.execute(conn, flush)

    async def execute(self, conn: asyncpg.Connection, flush: Flush) -> bool:
        """The flush, in one statement, and the routing entries of the accounts it created
        (so that every router routes them in their region); run it inside a transaction."""
        applied = await conn.fetchval(
            queries.load()["router_flush_history"],
            flush.flush_id,
            self.router_id,
            *columns(flush.rows),
            [a for a, _ in flush.new_accounts],
            [r for _, r in flush.new_accounts],
        )
        if applied and flush.new_accounts:
            # After the flush's rows: its locks and then the routing clock's, in the order
            # every writer takes them.
            await routing_store.publish_general_accounts(
                conn, [a for a, _ in flush.new_accounts], datetime.now(UTC).date()
            )
        return bool(applied)


def columns(rows: Sequence[tuple[Key, int]]) -> tuple[list[date], list[str], list[str], list[str], list[int]]:
    """``rows`` as the statement's arrays (days, accounts, IPs, providers, counts), in
    their order; one ``date`` per distinct day (a flush spans one or two)."""
    if not rows:
        return [], [], [], [], []
    keys, counts = zip(*rows, strict=True)
    days, accounts, ips, providers = zip(*keys, strict=True)
    dates = {d: day_of(d) for d in set(days)}
    return [dates[d] for d in days], list(accounts), list(ips), list(providers), list(counts)


class HistoryFlusher:
    """Takes the buffer's picks about once per ``interval`` and writes them exactly once;
    keeps the backlog on disk (``spill``) every interval while it is not being written."""

    def __init__(
        self,
        buffer: HistoryBuffer,
        sink: HistorySink,
        *,
        interval: float = 1.0,
        max_backoff: float = 30.0,
        spill: Backlog | None = None,
        spill_path: Path | None = None,
    ) -> None:
        self.buffer = buffer
        self.sink = sink
        self.interval = interval
        self.max_backoff = max_backoff
        self.spill = spill
        #: Where ``spill`` keeps the backlog, for the log.
        self.spill_path = spill_path
        self.in_flight: Flush | None = None
        #: Flushes kept on disk by an earlier run (``restore``): written first, same ids.
        self.restored: list[Flush] = []
        self.parked: Parked | None = None
        self.failures = 0  # consecutive
        #: One line when writes start failing, a summary a minute, one when they succeed again.
        self._outage = Outage(log, "history flush")
        self.flushes = 0
        self.failed_writes = 0
        self.replayed = 0  # writes recognised as already applied
        self.last_success = time.monotonic()
        #: The write in progress (``run`` lets a slow one go on while it keeps the backlog on disk).
        self._writing: asyncio.Task[bool] | None = None
        #: Ids whose every part so far is in the file; rows in the file (0: no file).
        self._on_disk: set[uuid.UUID] = set()
        self._disk_rows = 0
        #: A write to the file failed: the next one rewrites it whole.
        self._stale = False

    def restore(self, flushes: list[Flush]) -> None:
        """Flushes the spill file holds already, from an earlier run: written first."""
        self.restored = list(flushes)
        self._on_disk.update(f.flush_id for f in flushes)
        self._disk_rows = sum(len(f.rows) for f in flushes)

    @property
    def lag(self) -> float:
        """Seconds the oldest unflushed pick has waited (0 when nothing waits)."""
        oldest = [f.oldest for f in (self.in_flight, self.parked) if f is not None]
        if self.buffer.pending:
            oldest.append(self.buffer.oldest)
        return time.monotonic() - min(oldest) if oldest else 0.0

    @property
    def backlog_keys(self) -> int:
        return len(self.buffer.pending) + len(self.buffer.in_flight)

    def owes(self) -> bool:
        """Some history is not written yet (pending picks aside)."""
        return self.in_flight is not None or bool(self.restored) or self.parked is not None

    def _next(self) -> Flush | None:
        if self.restored:
            return self.restored.pop(0)
        if self.parked is not None:
            parked, self.parked = self.parked, None
            return parked.freeze()  # its counts stay the buffer's ``in_flight``: in flight now
        return self.buffer.take()

    async def flush_once(self) -> bool:
        """Write the in-flight flush (or take the next one). True when nothing is left in flight."""
        if self.in_flight is None:
            self.in_flight = self._next()
            if self.in_flight is None:
                return True
        flush = self.in_flight
        try:
            applied = await self.sink.write(flush)
        except RETRYABLE as exc:
            self.failures += 1
            self.failed_writes += 1
            self._outage.failed(
                exc,
                f"retrying flush_id={flush.flush_id} rows={len(flush.rows)} picks={flush.picks} with the same id, "
                f"backlog_keys={self.backlog_keys} max_keys={self.buffer.max_keys}",
            )
            return False
        self.in_flight = None
        self.buffer.in_flight = self.parked.counts if self.parked is not None else {}
        self.flushes += 1
        self.last_success = time.monotonic()
        if not applied:
            self.replayed += 1
            log.info("history flush already applied flush_id=%s; not counted again", flush.flush_id)
        self._outage.recovered()
        self.failures = 0
        return True

    def backoff(self) -> float:
        if not self.failures:
            return self.interval
        delay = min(self.max_backoff, self.interval * 2.0 ** min(self.failures, 16))
        return delay * random.uniform(0.5, 1.0)

    async def run(self, stopping: asyncio.Event) -> None:
        """Until ``stopping``, every ``interval`` (a steady beat): write the next flush,
        backing off while writes fail; a write not done within half an interval goes on in
        the background. Then keep on disk what is not being written, so that at any time
        at most one interval of picks (and a flush being written) is neither in PostgreSQL
        nor on disk. A write still in progress at the end is ``drain``'s."""
        retry_at = 0.0
        beat = time.monotonic()
        while not stopping.is_set():
            beat = max(beat + self.interval, time.monotonic())  # late (a long disk write): no burst
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), max(0.0, beat - time.monotonic()))
            if stopping.is_set():
                return
            if self._writing is None and time.monotonic() >= retry_at:
                self._writing = asyncio.create_task(self.flush_once(), name="history-write")
                await asyncio.wait([self._writing], timeout=self.interval / 2)
            if self._writing is not None and self._writing.done():
                written = self._writing.result()  # raises what is not a database failure
                self._writing = None
                retry_at = 0.0 if written else time.monotonic() + self.backoff()
            await self.keep_on_disk()

    async def keep_on_disk(self) -> None:
        """While the backlog is not being written: the flush in flight once, and the picks
        made since as an addition to the parked flush. Once all is written, the file goes."""
        if self.spill is None:
            return
        if not (self.failures or self._writing is not None or (self._disk_rows and self.owes())):
            if self._disk_rows and not self.owes() and await self._write_disk("clear", self.spill.clear):
                self._on_disk.clear()
                self._disk_rows = 0
                log.info("history kept on disk is written; removed %s", self.spill_path)
            return
        parts = [f for f in (self.in_flight,) if f is not None and f.flush_id not in self._on_disk]
        pending, accounts, oldest = self.buffer.swap()
        if pending or accounts:
            if self.parked is None:
                self.parked = Parked(self.buffer.in_flight, oldest)
                self.buffer.in_flight = self.parked.counts
            parts.append(self.parked.add(pending, accounts))
        if not parts and not self._stale:
            return
        if not self._disk_rows:
            log.warning(
                "history backlog kept on disk every %.1fs until PostgreSQL takes it (a write failed or is slow) "
                "path=%s",
                self.interval,
                self.spill_path,
            )
        rows = sum(len(p.rows) for p in parts)
        if self._stale or self._disk_rows + rows > 2 * self._owed_rows() + COMPACT_SLACK_ROWS:
            await self._replace()
            return
        # Counted as written before the write: a part must never go to the file twice.
        self._on_disk.update(p.flush_id for p in parts)
        self._disk_rows += rows
        await self._write_disk("append", functools.partial(self.spill.append, parts))

    def _owed(self) -> list[Flush]:
        """Everything not written yet but the pending picks (for the disk: the parked flush unsorted)."""
        parked = [self.parked.as_part()] if self.parked is not None else []
        return [f for f in (self.in_flight, *self.restored, *parked) if f is not None]

    def _owed_rows(self) -> int:
        parked = len(self.parked.counts) if self.parked is not None else 0
        in_flight = len(self.in_flight.rows) if self.in_flight is not None else 0
        return in_flight + parked + sum(len(f.rows) for f in self.restored)

    async def _replace(self) -> None:
        assert self.spill is not None
        owed = self._owed()
        self._on_disk = {f.flush_id for f in owed}
        self._disk_rows = max(1, sum(len(f.rows) for f in owed))
        self._stale = False
        await self._write_disk("rewrite", functools.partial(self.spill.replace, owed))

    async def _write_disk(self, what: str, write: Callable[[], None]) -> bool:
        try:
            await asyncio.to_thread(write)
        except OSError as exc:
            if not self._stale:  # once, not every interval while the disk refuses
                log.error("history backlog could not be kept on disk (%s) path=%s: %s", what, self.spill_path, exc)
            self._stale = True
            return False
        return True

    async def drain(self, limit: float) -> bool:
        """Flush everything (the final flush on SIGTERM), a write in progress included, for
        at most ``limit`` seconds. False when some picks could not be written: a write cut
        at the limit keeps its flush in flight, with its id (outcome unknown)."""
        deadline = time.monotonic() + limit
        while self._writing is not None or self.owes() or self.buffer.pending or self.buffer.new_accounts:
            task = self._writing or asyncio.create_task(self.flush_once(), name="history-write")
            self._writing = task
            done, _ = await asyncio.wait([task], timeout=max(0.0, deadline - time.monotonic()))
            self._writing = None
            if not done:
                task.cancel()  # not awaited: a write stuck on a frozen server ends with the pool
                break
            if task.result():
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await asyncio.sleep(min(0.5 * self.failures, remaining, 2.0))
        else:
            return True
        log.error("final history flush gave up picks_not_written=%d after %.1fs", self.unwritten_picks, limit)
        return False

    @property
    def unwritten_picks(self) -> int:
        in_flight = self.in_flight.picks if self.in_flight else 0
        parked = self.parked.picks if self.parked else 0
        return in_flight + parked + sum(f.picks for f in self.restored) + self.buffer.pending_picks

    def take_unwritten(self) -> list[Flush]:
        """Everything not written yet, as flushes (each keeps its id; the pending picks get
        one); the flusher is empty afterwards. For the spill file when the final flush gave up."""
        parked = self.parked.freeze() if self.parked is not None else None
        flushes = [f for f in (self.in_flight, *self.restored, parked, self.buffer.take()) if f is not None]
        self.in_flight, self.restored, self.parked = None, [], None
        self.buffer.in_flight = {}
        return flushes
