"""Keeping the routing table current: initial load, LISTEN/NOTIFY, polling fallback.

Entries are read by version (``version > table.version``) a page at a time, and
compiled and applied a few at a time, resting the event loop in between (see
``pacing``): a reload of 100k accounts never holds the loop for long, so picks are
not stalled.
Every entry of a page is applied before ``table.version`` moves past it, and each
entry is swapped in whole, so a pick sees an entry either old or new, never mixed.

Every sync first reads the database's clock (``routing_clock``). Below the table's version
it can only have gone back: a failover to an asynchronous replica that lost the last
commits, or a restore. New entries would then reuse versions the table has passed, so the
loader reloads the whole table from version 0 (a warning says why) and drops the entries
the database no longer has.

A NOTIFY only wakes the poller early; the poll every ``poll_interval`` seconds catches
anything a lost connection or a missed notification would have delayed. Every sync also
reads the pairs the same-day breaker rests (rule 11, ``rests``), which a trip NOTIFYs too.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from server.router import rests
from server.router.pacing import REST_SECONDS, SLICE_SECONDS, Pacer
from server.router.table import RoutingTable, compile_entry
from store import queries
from store.listener import Listener
from store.outage import DATABASE_UNAVAILABLE, Outage
from store.routing_store import ROUTING_CHANNEL

log = logging.getLogger(__name__)

#: Rows fetched per query (asyncpg decodes a whole result at once: keep it short).
PAGE_SIZE = 200
#: Longest wait for one page (a connection, the query): then the sync fails and is retried.
QUERY_TIMEOUT = 10.0
#: A reload longer than this says how far it got, every so often, in the log.
PROGRESS_EVERY = 10.0


def apply_entry(table: RoutingTable, kind: str, key: str, version: int, text: str) -> bool:
    """Compile and apply one stored entry; False (and a log line) when it is malformed."""
    try:
        compiled = compile_entry(kind, text, version, table.rests.get(key, frozenset()) if table.rests else frozenset())
    except (ValueError, KeyError, TypeError) as exc:
        log.error("routing entry skipped kind=%s key=%s version=%d: %s", kind, key, version, exc)
        return False
    table.put(kind, key, version, text, compiled)
    return True


def apply_entries(table: RoutingTable, rows: list[tuple[str, str, int, str]]) -> int:
    """Apply rows (kind, key, version, entry) at once; returns how many were good."""
    return sum(apply_entry(table, *row) for row in rows)


class Loader:
    def __init__(
        self,
        pool: asyncpg.Pool,
        table: RoutingTable,
        *,
        poll_interval: float = 5.0,
        page_size: int = PAGE_SIZE,
        slice_seconds: float = SLICE_SECONDS,
        rest_seconds: float = REST_SECONDS,
        on_synced: Callable[[int, float], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool = pool
        self.clock = clock
        #: (rule 11) The rests read at the last sync, with their ends: applied at every sync,
        #: and expired on time from here while PostgreSQL cannot be read.
        self.rests: list[rests.Rest] = []
        self.table = table
        self.poll_interval = poll_interval
        self.page_size = page_size
        self.slice_seconds = slice_seconds
        self.rest_seconds = rest_seconds
        self.on_synced = on_synced
        self.wake = asyncio.Event()
        self._lock = asyncio.Lock()
        #: ``time.monotonic()`` when PostgreSQL last answered a sync (each page of a long
        #: reload counts: a router busy catching up is not serving a stale table); 0 before any.
        self.last_sync = 0.0
        self.last_reload_seconds = 0.0
        self.last_reload_entries = 0
        self.reloads = 0
        self.errors = 0
        self._outage = Outage(log, "routing table sync")
        #: During a whole reload (the clock went back), the (kind, key) read so far: kept
        #: across a failed sync, so the one that completes the reload still drops the rest.
        self._reloading: set[tuple[str, str]] | None = None

    @property
    def busy(self) -> bool:
        """A sync is running."""
        return self._lock.locked()

    async def sync(self) -> int:
        """Apply every entry newer than the table's version; returns how many changed.

        When the database's clock is below the table's version, reload every entry instead."""
        async with self._lock:
            started = time.monotonic()
            table = self.table
            await self._rewind_if_clock_went_back()
            seen = self._reloading
            changed = await self._read_entries(started, seen)
            if seen is not None:
                changed += self._drop_unseen(seen)
                self._reloading = None
            table.loaded = True
            at = self._now()
            async with asyncio.timeout(QUERY_TIMEOUT), self.pool.acquire() as conn:
                self.rests = await rests.active(conn, at)
            self._apply_rests(at)
            self.last_sync = time.monotonic()
            if changed:
                self.reloads += 1
                self.last_reload_seconds = self.last_sync - started
                self.last_reload_entries = changed
                log.info(
                    "routing table updated entries=%d version=%d seconds=%.3f accounts=%d regions=%d",
                    changed,
                    table.version,
                    self.last_reload_seconds,
                    len(table.accounts),
                    len(table.regions),
                )
            if self.on_synced is not None:
                self.on_synced(changed, self.last_reload_seconds)
            return changed

    async def _rewind_if_clock_went_back(self) -> None:
        """When the database's clock is below the table's version, reset the version to 0
        and start collecting the (kind, key) read back (``_reloading``)."""
        table = self.table
        if not table.version:
            return
        async with asyncio.timeout(QUERY_TIMEOUT), self.pool.acquire() as conn:
            clock = int(await conn.fetchval(queries.load()["routing_latest_version"]))
        if clock >= table.version:
            return
        log.warning(
            "routing clock %d is below the table's version %d: the database lost commits "
            "(failover to an asynchronous replica, or a restore); reloading the whole table",
            clock,
            table.version,
        )
        table.version = 0
        self._reloading = set()

    def _drop_unseen(self, seen: set[tuple[str, str]]) -> int:
        """After a whole reload: drop the entries the database no longer has."""
        table = self.table
        gone = [kind_key for kind_key in table.raw if kind_key not in seen]
        for kind, key in gone:
            del table.raw[(kind, key)]
            (table.accounts if kind == "account" else table.regions).pop(key, None)
        if gone:
            log.warning("routing entries dropped: no longer in the database entries=%d", len(gone))
        return len(gone)

    async def _read_entries(self, started: float, seen: set[tuple[str, str]] | None) -> int:
        """Apply every entry newer than the table's version, page by page (paced); adds
        each (kind, key) read to ``seen`` when given. Returns how many were good."""
        table = self.table
        changed = 0
        sql = queries.load()["router_entries_page"]
        # Before the first load no pick can be answered: nothing to rest for.
        pacer = Pacer(self.slice_seconds, self.rest_seconds if table.loaded else 0.0)
        gc_was_enabled = gc.isenabled()
        progress_at = started + PROGRESS_EVERY
        try:
            while True:
                async with asyncio.timeout(QUERY_TIMEOUT), self.pool.acquire() as conn:
                    rows = await conn.fetch(sql, table.version, self.page_size)
                self.last_sync = now = time.monotonic()
                if now >= progress_at:
                    progress_at = now + PROGRESS_EVERY
                    log.info(
                        "routing table reload in progress entries=%d version=%d seconds=%.0f",
                        changed,
                        table.version,
                        now - started,
                    )
                if len(rows) == self.page_size and gc_was_enabled:
                    # A big reload allocates millions of long-lived objects: the collector's
                    # full passes over them would stall picks for 100+ ms. Entries hold no
                    # cycles, so nothing is lost by pausing it; see the freeze below.
                    gc.disable()
                for r in rows:
                    changed += apply_entry(table, r["kind"], r["key"], r["version"], r["entry"])
                    if seen is not None:
                        seen.add((r["kind"], r["key"]))
                    await pacer.pause()
                if rows:
                    table.version = max(table.version, rows[-1]["version"])
                if len(rows) < self.page_size:
                    break
        finally:
            if gc_was_enabled and not gc.isenabled():
                gc.freeze()  # the new table is long-lived: out of the collector's way
                gc.enable()
        return changed

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _apply_rests(self, now: datetime) -> None:
        changed = self.table.set_rests(rests.resting_at(self.rests, now))
        if changed:
            resting = sum(len(pairs) for pairs in self.table.rests.values())
            log.info("same-day breaker rests applied accounts=%d resting_pairs=%d", len(changed), resting)

    def notified(self, payload: str) -> None:
        """A NOTIFY on the routing channel: wake the poller if it announces something new."""
        try:
            newer = int(payload) > self.table.version
        except ValueError:
            newer = True
        if newer:
            self.wake.set()

    async def caught_up(self) -> None:
        """After every (re)connect of the listener: a NOTIFY may have been missed."""
        self.wake.set()

    def listener(self, url: str) -> Listener:
        return Listener(url, ROUTING_CHANNEL, self.notified, self.caught_up)

    async def run(self, stopping: asyncio.Event) -> None:
        """Sync on every wake-up, and at least every ``poll_interval``, until ``stopping``."""
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.poll_interval)
            self.wake.clear()
            if stopping.is_set():
                return
            try:
                await self.sync()
                self._outage.recovered()
            except DATABASE_UNAVAILABLE as exc:
                self.errors += 1
                self._outage.failed(exc, f"serving the table as it is (version={self.table.version})")
                self._apply_rests(self._now())  # a throttle pause still ends on time
