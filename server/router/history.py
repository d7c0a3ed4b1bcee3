"""History: picks aggregated in memory, flushed to PostgreSQL exactly once.

Picks add to ``pending`` per (day, account, IP, provider). About once a second the
flusher takes everything pending as one ``Flush`` with a fresh id and writes it in one
statement that also records the id in ``history_flushes``. When the outcome of a write
is unknown (connection lost, timeout), the same ``Flush`` — same id, same rows — is
retried until it lands; a write whose id is already recorded adds nothing, so no pick
is counted twice. Picks made meanwhile wait in ``pending`` for the next flush.

Memory is bounded by ``max_keys`` distinct keys (pending plus in flight): at the bound,
keys already held (pending or in flight) keep counting, picks for other keys are
dropped from history and counted in ``dropped`` (the router keeps answering either way).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import asyncpg

from store import queries

log = logging.getLogger(__name__)

#: (UTC day number, account_id, ip, mailbox_provider)
Key = tuple[int, str, str, str]
_EPOCH = date(1970, 1, 1).toordinal()
#: Errors after which a write's outcome is unknown (or it surely failed): retry it.
RETRYABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)


def day_of(day_number: int) -> date:
    return date.fromordinal(_EPOCH + day_number)


@dataclass(frozen=True)
class Flush:
    flush_id: uuid.UUID
    rows: list[tuple[Key, int]]  # sorted by key: concurrent flushes lock rows in one order
    #: Accounts the router has no routing entry for, with the region to create them in.
    new_accounts: list[tuple[str, str]]
    picks: int
    #: ``time.monotonic()`` of the oldest pick in it.
    oldest: float


class HistoryBuffer:
    """The hot path's side: ``add`` one pick. Single-threaded (the event loop)."""

    __slots__ = (
        "_created",
        "_last_full_log",
        "dropped",
        "in_flight",
        "max_keys",
        "new_accounts",
        "oldest",
        "pending",
    )

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self.pending: dict[Key, int] = {}
        self.new_accounts: dict[str, str] = {}
        self._created: set[str] = set()
        #: The keys of the flush being written (until it lands), for the bound.
        self.in_flight: dict[Key, int] = {}
        self.oldest = 0.0
        self.dropped = 0
        self._last_full_log = -1e9

    def add(self, key: Key) -> None:
        pending = self.pending
        n = pending.get(key)
        if n is not None:
            pending[key] = n + 1
            return
        if len(pending) + len(self.in_flight) >= self.max_keys and key not in self.in_flight:
            self._drop(key)
            return
        if not pending:
            self.oldest = time.monotonic()
        pending[key] = 1

    def unknown_account(self, account_id: str, region: str) -> None:
        """Create ``account_id`` in ``region`` with the next flush (no routing entry yet)."""
        if account_id not in self._created and account_id not in self.new_accounts:
            self.new_accounts[account_id] = region

    def take(self) -> Flush | None:
        if not self.pending and not self.new_accounts:
            return None
        pending, self.pending = self.pending, {}
        self.in_flight = pending
        accounts, self.new_accounts = self.new_accounts, {}
        if len(self._created) > 100_000:
            self._created.clear()  # a bound; re-creating is harmless (ON CONFLICT DO NOTHING)
        self._created.update(accounts)
        return Flush(
            flush_id=uuid.uuid4(),
            rows=sorted(pending.items()),
            new_accounts=sorted(accounts.items()),
            picks=sum(pending.values()),
            oldest=self.oldest if pending else time.monotonic(),
        )

    @property
    def pending_picks(self) -> int:
        return sum(self.pending.values())

    def _drop(self, key: Key) -> None:
        self.dropped += 1
        now = time.monotonic()
        if now - self._last_full_log >= 10:
            self._last_full_log = now
            log.error(
                "history backlog full keys=%d max_keys=%d dropped_picks=%d account=%s ip=%s: "
                "picks for new keys are not recorded until PostgreSQL takes the backlog",
                len(self.pending) + len(self.in_flight),
                self.max_keys,
                self.dropped,
                key[1],
                key[2],
            )


class HistorySink(Protocol):
    async def write(self, flush: Flush) -> bool:
        """Apply ``flush``; False when its id was already recorded (nothing added)."""
        ...


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
        """The one statement; run it inside a transaction."""
        rows = flush.rows
        applied = await conn.fetchval(
            queries.load()["router_flush_history"],
            flush.flush_id,
            self.router_id,
            [day_of(key[0]) for key, _ in rows],
            [key[1] for key, _ in rows],
            [key[2] for key, _ in rows],
            [key[3] for key, _ in rows],
            [n for _, n in rows],
            [a for a, _ in flush.new_accounts],
            [r for _, r in flush.new_accounts],
        )
        return bool(applied)


class HistoryFlusher:
    """Takes the buffer's picks about once per ``interval`` and writes them exactly once."""

    def __init__(
        self,
        buffer: HistoryBuffer,
        sink: HistorySink,
        *,
        interval: float = 1.0,
        max_backoff: float = 30.0,
        on_written: Callable[[Flush, bool], None] | None = None,
    ) -> None:
        self.buffer = buffer
        self.sink = sink
        self.interval = interval
        self.max_backoff = max_backoff
        self.on_written = on_written
        self.in_flight: Flush | None = None
        #: Flushes kept on disk by an earlier stop (``spill``): written first, same ids.
        self.restored: list[Flush] = []
        self.failures = 0  # consecutive
        self.flushes = 0
        self.failed_writes = 0
        self.replayed = 0  # writes recognised as already applied
        self.last_success = time.monotonic()

    @property
    def lag(self) -> float:
        """Seconds the oldest unflushed pick has waited (0 when nothing waits)."""
        oldest = [f.oldest for f in (self.in_flight,) if f is not None]
        if self.buffer.pending:
            oldest.append(self.buffer.oldest)
        return time.monotonic() - min(oldest) if oldest else 0.0

    @property
    def backlog_keys(self) -> int:
        return len(self.buffer.pending) + len(self.buffer.in_flight)

    async def flush_once(self) -> bool:
        """Write the in-flight flush (or take a new one). True when nothing is left in flight."""
        if self.in_flight is None:
            self.in_flight = self.restored.pop(0) if self.restored else self.buffer.take()
            if self.in_flight is None:
                return True
        flush = self.in_flight
        try:
            applied = await self.sink.write(flush)
        except RETRYABLE as exc:
            self.failures += 1
            self.failed_writes += 1
            log.warning(
                "history flush failed flush_id=%s rows=%d picks=%d attempt=%d backlog_keys=%d max_keys=%d "
                "(%.0f%%) lag=%.1fs: %s",
                flush.flush_id,
                len(flush.rows),
                flush.picks,
                self.failures,
                self.backlog_keys,
                self.buffer.max_keys,
                100 * self.backlog_keys / self.buffer.max_keys,
                self.lag,
                exc,
            )
            return False
        self.in_flight = None
        self.buffer.in_flight = {}
        self.flushes += 1
        self.last_success = time.monotonic()
        if not applied:
            self.replayed += 1
            log.info("history flush already applied flush_id=%s; not counted again", flush.flush_id)
        if self.failures:
            log.info("history flush recovered flush_id=%s after %d failed attempts", flush.flush_id, self.failures)
            self.failures = 0
        if self.on_written is not None:
            self.on_written(flush, applied)
        return True

    def backoff(self) -> float:
        if not self.failures:
            return self.interval
        delay = min(self.max_backoff, self.interval * 2.0 ** min(self.failures, 16))
        return delay * random.uniform(0.5, 1.0)

    async def run(self, stopping: asyncio.Event) -> None:
        """Flush every ``interval`` (backing off while writes fail) until ``stopping``."""
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.backoff())
            if not stopping.is_set():
                await self.flush_once()

    async def drain(self, limit: float) -> bool:
        """Flush everything (the final flush on SIGTERM). False when some picks could not be written."""
        deadline = time.monotonic() + limit
        while self.in_flight is not None or self.restored or self.buffer.pending or self.buffer.new_accounts:
            if await self.flush_once():
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.error("final history flush gave up picks_not_written=%d after %.0fs", self.unwritten_picks, limit)
                return False
            await asyncio.sleep(min(0.5 * self.failures, remaining, 2.0))
        return True

    @property
    def unwritten_picks(self) -> int:
        in_flight = self.in_flight.picks if self.in_flight else 0
        return in_flight + sum(f.picks for f in self.restored) + self.buffer.pending_picks

    def take_unwritten(self) -> list[Flush]:
        """Everything not written yet, as flushes (the one in flight keeps its id); the
        flusher is empty afterwards. For ``spill.save`` when the final flush gave up."""
        flushes = [f for f in (self.in_flight, *self.restored, self.buffer.take()) if f is not None]
        self.in_flight, self.restored = None, []
        self.buffer.in_flight = {}
        return flushes
