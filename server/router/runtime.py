"""Wires the router together and owns its lifecycle.

``run()`` loads the routing table (from PostgreSQL, else from the disk snapshot),
then runs the named side tasks — listener, loader, flusher, heartbeat, leases, snapshot —
until ``stop()``; a side task that fails stops the router loudly. ``stop()`` is
idempotent: it ends the side tasks, flushes all history (the final flush of SIGTERM),
saves the snapshot, gives back unused leases, removes the heartbeat and closes the pool,
each within what is
left of the shutdown's deadline (``server/shutdown.py``): history that cannot be
written by then goes to the router's history file (``spill.py``) first. Signal
handling is the entry point's business (cli/serving.py), never this module's.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc

from sendingip.v1 import router_pb2_grpc
from server.authz import Authorizer
from server.config import ServerConfig
from server.router import rests, snapshot
from server.router.engine import Engine
from server.router.heartbeat import Heartbeat
from server.router.history_buffer import HistoryBuffer
from server.router.history_flusher import RETRYABLE, HistoryFlusher, HistorySink, PostgresHistorySink
from server.router.leases import LeaseManager, PostgresLeases
from server.router.limits import SECONDS_PER_DAY, DailyLimits
from server.router.loader import Loader, apply_entries
from server.router.metrics import MetricsServer
from server.router.pacing import Pacer
from server.router.providers import ProviderTable
from server.router.servicer import OutcomeKey, OutcomesUnavailable, RouterServicer
from server.router.spill import Spill
from server.router.table import RoutingTable
from server.shutdown import Deadline, cancel
from server.validate import OUTCOME_COUNTS, RequestError
from store import queries
from store.database import database_identity
from store.outage import cause

log = logging.getLogger(__name__)

_THROTTLED = OUTCOME_COUNTS.index("throttled")

SNAPSHOT_EVERY = 30.0
#: Seconds of the shutdown deadline kept back from the final flush: the backlog to disk,
#: the pool's close.
SPILL_RESERVE = 1.0
#: Seconds the side tasks get to return once stopping, before they are cancelled.
SIDE_TASKS_WAIT = 1.0
#: Most seconds the pool gets to close gracefully before its connections are cut.
POOL_CLOSE_WAIT = 0.3
#: Seconds of the deadline kept back from the snapshot and the heartbeat: the pool's close.
END_RESERVE = 0.5


def assert_upb() -> None:
    """The pure-Python protobuf backend is ~20x slower on the hot path: refuse to run on it."""
    from google.protobuf.internal import api_implementation

    kind = api_implementation.Type()
    if kind != "upb":
        raise RuntimeError(
            f"protobuf backend is {kind!r}, expected 'upb' (unset PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION)"
        )


class RouterRuntime:
    def __init__(
        self,
        config: ServerConfig,
        authorizer: Authorizer,
        *,
        sink: Callable[[asyncpg.Pool], HistorySink] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        assert config.database.url is not None
        self.config = config
        self.rc = config.router
        self.url = config.database.url
        self.clock = clock
        self._sink_factory = sink
        self.providers = ProviderTable.with_overrides(self.rc.provider_domains)
        self.table = RoutingTable()
        self.limits = DailyLimits(int(clock() // SECONDS_PER_DAY), leased=True)
        self.history = HistoryBuffer(self.rc.max_pending_keys)
        self.engine = Engine(
            self.table,
            self.limits,
            self.history,
            default_region=config.default_region,
            clock=clock,
            repeat_window_picks=self.rc.repeat_window_picks,
        )
        self.servicer = RouterServicer(
            self.engine, self.providers, authorizer, self._write_outcomes, max_batch=self.rc.max_batch
        )
        self.snapshot_path = snapshot.path_for(config.database.data_dir / "router", self.url)
        self.pool: asyncpg.Pool | None = None
        self.spill: Spill | None = None
        self.loader: Loader | None = None
        self.flusher: HistoryFlusher | None = None
        self.heartbeat: Heartbeat | None = None
        self.leases: LeaseManager | None = None
        self.metrics: MetricsServer | None = None
        #: Set once a routing table is loaded (SERVING).
        self.ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._done = asyncio.Event()
        self._running = False
        self._from_snapshot_at: float | None = None
        self._saved_version = -1
        self._deadline: Deadline | None = None

    # -- gRPC ----------------------------------------------------------------------

    def add_to_server(self, server: grpc.aio.Server) -> None:
        router_pb2_grpc.add_RouterServicer_to_server(self.servicer, server)  # type: ignore[no-untyped-call]

    def grpc_options(self) -> list[tuple[str, int | str]]:
        size = self.rc.max_message_bytes
        return [("grpc.max_receive_message_length", size), ("grpc.max_send_message_length", size)]

    # -- state for metrics -----------------------------------------------------------

    def stale(self) -> bool:
        """Serving a table PostgreSQL has not confirmed for three poll intervals."""
        if not self.table.loaded:
            return False
        return self._from_snapshot_at is not None or self.table_age() > 3 * self.rc.poll_interval + 10

    def table_age(self) -> float:
        if self.loader is not None and self.loader.last_sync:
            return time.monotonic() - self.loader.last_sync
        if self._from_snapshot_at is not None:
            return max(0.0, time.time() - self._from_snapshot_at)
        return 0.0

    # -- lifecycle -------------------------------------------------------------------

    async def run(self) -> None:
        """Until ``stop()``; raises when a side task fails."""
        if self._running:
            raise RuntimeError("RouterRuntime.run() is already running")
        self._running = True
        try:
            await self._run()
        finally:
            await self._shutdown()
            self._done.set()

    async def stop(self, deadline: Deadline | None = None) -> None:
        """Idempotent; returns once ``run()`` has flushed and closed everything, within
        ``deadline`` (default: ``SENDINGIP_SHUTDOWN_DEADLINE`` from now)."""
        if self._deadline is None:
            self._deadline = deadline
        self._stopping.set()
        if self._running:
            await self._done.wait()

    @property
    def deadline(self) -> Deadline:
        """The shutdown's deadline: the one ``stop()`` was given, else one from now."""
        if self._deadline is None:
            self._deadline = Deadline(self.config.shutdown_deadline)
        return self._deadline

    async def _run(self) -> None:
        self.pool = await asyncpg.create_pool(
            self.url,
            min_size=0,
            max_size=self.config.database.pool_size,
            command_timeout=30,
            server_settings={"timezone": "UTC"},
        )
        sink = (
            self._sink_factory(self.pool) if self._sink_factory else PostgresHistorySink(self.pool, self.rc.router_id)
        )
        self.flusher = HistoryFlusher(self.history, sink, interval=self.rc.flush_interval)
        await self._open_spill(self.flusher)
        self.loader = Loader(
            self.pool, self.table, poll_interval=self.rc.poll_interval, on_synced=self._synced, clock=self.clock
        )
        self.heartbeat = Heartbeat(
            self.pool,
            self.rc.router_id,
            lambda: self.table.version,
            address=self.config.listen,
            interval=self.rc.heartbeat_interval,
        )
        self.leases = LeaseManager(
            self.limits,
            PostgresLeases(self.pool),
            self.rc.router_id,
            interval=self.rc.lease_interval,
            max_chunk=self.rc.lease_max_chunk,
        )
        self.metrics = MetricsServer(self, self.rc.metrics_listen)
        if not await self._first_load():
            return
        self.ready.set()
        side: dict[str, Coroutine[Any, Any, None]] = {
            "listener": self._listen(),
            "loader": self.loader.run(self._stopping),
            "flusher": self.flusher.run(self._stopping),
            "heartbeat": self.heartbeat.run(self._stopping),
            "leases": self.leases.run(self._stopping),
            "snapshot": self._save_snapshots(),
        }
        named = {name: asyncio.create_task(coro, name=f"router-{name}") for name, coro in side.items()}
        tasks = list(named.values())
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stopping], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is stopping:
                    continue
                exc = task.exception()
                if self._stopping.is_set():
                    # It returned because we are stopping; a failure on the way out is not
                    # a reason to fail the shutdown (the final flush still runs).
                    if exc is not None:
                        log.warning("side task %s failed while stopping: %r", task.get_name(), exc)
                    continue
                log.critical("side task %s ended: %r; stopping the router", task.get_name(), exc)
                raise RuntimeError(f"router side task {task.get_name()} ended") from exc
        finally:
            self._stopping.set()
            # A sync in progress (a paced reload can take a minute) is safe to abandon: the
            # table's version moves only past whole pages, the next start reads the rest.
            named["loader"].cancel()
            stopping.cancel()
            # Side tasks return on ``_stopping``; give them a moment, then cancel (one
            # stuck on a frozen PostgreSQL is left behind: the pool's close ends it).
            _, pending = await asyncio.wait(tasks, timeout=min(SIDE_TASKS_WAIT, self.deadline.left()))
            await asyncio.gather(*(cancel(t, f"side task {t.get_name()}", SIDE_TASKS_WAIT) for t in pending))
            for task in [*tasks, stopping]:
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: logged above when it mattered

    async def _first_load(self) -> bool:
        """Load from PostgreSQL, else from the snapshot, retrying until one works or ``stop()``."""
        assert self.loader is not None
        delay = 0.5
        tried_snapshot = False
        while not self._stopping.is_set():
            try:
                await self.loader.sync()
                log.info(
                    "routing table loaded from PostgreSQL version=%d accounts=%d regions=%d",
                    self.table.version,
                    len(self.table.accounts),
                    len(self.table.regions),
                )
                gc.freeze()  # the table is long-lived: keep it out of the collector's full passes
                await self._resume_leases()
                return True
            except RETRYABLE as exc:
                log.warning("cannot load the routing table from PostgreSQL: %s", exc)
            if not tried_snapshot:
                tried_snapshot = True
                if await self._load_snapshot():
                    return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, 10.0)
        return False

    async def _load_snapshot(self) -> bool:
        found = await asyncio.to_thread(snapshot.load, self.snapshot_path, database_identity(self.url))
        if found is None:
            log.warning("no routing snapshot at %s; waiting for PostgreSQL (UNAVAILABLE meanwhile)", self.snapshot_path)
            return False
        version, saved_at, rows = found
        apply_entries(self.table, rows)
        self.table.version = version
        self.table.loaded = True
        self._from_snapshot_at = saved_at
        self._saved_version = version
        log.warning(
            "serving a STALE routing table from the disk snapshot version=%d saved %.0fs ago path=%s; "
            "PostgreSQL is unreachable (metric sendingip_routing_table_stale=1)",
            version,
            time.time() - saved_at,
            self.snapshot_path,
        )
        return True

    async def _resume_leases(self) -> None:
        """This router's leases of today, when it runs again under the same router_id
        (until they are read, the lease task asks for nothing)."""
        assert self.heartbeat is not None and self.leases is not None
        self.limits.roll(int(self.clock() // SECONDS_PER_DAY))
        try:
            await self.heartbeat.beat()
            await self.leases.resume()
        except RETRYABLE as exc:
            log.warning("could not read this router's leases (the lease task retries): %s", exc)

    async def _open_spill(self, flusher: HistoryFlusher) -> None:
        """This router's history file, and the history of routers that stopped without
        writing theirs (written first). Without a usable folder the router still runs."""
        folder = self.config.database.data_dir / "router"
        try:
            spill, restored = await asyncio.to_thread(Spill.open, folder, self.url, self.rc.router_id)
        except OSError as exc:
            log.error(
                "history cannot be kept on disk in %s (%s): a SIGKILL while PostgreSQL is unreachable "
                "would lose the picks since it went away",
                folder,
                exc,
            )
            return
        self.spill = flusher.spill = spill
        flusher.spill_path = spill.path
        flusher.restore(restored)

    def _synced(self, changed: int, _seconds: float) -> None:
        if self._from_snapshot_at is not None:
            log.info("routing table confirmed by PostgreSQL version=%d; no longer stale", self.table.version)
            self._from_snapshot_at = None

    async def _listen(self) -> None:
        assert self.loader is not None
        listener = self.loader.listener(self.url)
        task = asyncio.create_task(listener.run(), name="router-listen")
        try:
            await self._stopping.wait()
        finally:
            listener.stop()
            await task

    async def _save_snapshots(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), SNAPSHOT_EVERY)
            await self.save_snapshot()

    async def save_snapshot(self) -> None:
        table = self.table
        if not table.loaded or table.version == self._saved_version or self._from_snapshot_at is not None:
            return
        if self.loader is not None and self.loader.busy:
            return  # mid-reload; the next round saves the finished table
        version = table.version
        identity = database_identity(self.url)
        try:
            # Paced while picks are served; at full speed once stopping (also the one in
            # progress: the shutdown waits for it).
            pacer = Pacer(hurry=self._stopping)
            n = await snapshot.save(self.snapshot_path, identity, version, table.raw.copy(), pacer)
        except OSError as exc:
            log.warning("could not save the routing snapshot path=%s: %s", self.snapshot_path, exc)
            return
        self._saved_version = version
        log.info("routing snapshot saved version=%d entries=%d path=%s", version, n, self.snapshot_path)

    async def _shutdown(self) -> None:
        deadline = self.deadline
        try:
            written = await self._final_flush(deadline)
            if self.table.loaded:
                await deadline.run("routing snapshot", self.save_snapshot(), reserve=END_RESERVE)
            if self.leases is not None and self.ready.is_set() and self.leases.resumed:
                await deadline.run("lease give-back", self._give_back_leases(), reserve=END_RESERVE)
            if self.heartbeat is not None and self.ready.is_set():
                if written:
                    await deadline.run("heartbeat removal", self.heartbeat.remove(), reserve=END_RESERVE)
                else:  # PostgreSQL did not take the final flush: no time for another try
                    expires = 3 * self.rc.heartbeat_interval
                    log.info("heartbeat left to expire in %.0fs router_id=%s", expires, self.rc.router_id)
            if self.pool is not None:
                await close_pool(self.pool, min(POOL_CLOSE_WAIT, deadline.left(END_RESERVE / 2)))
        finally:
            # Also when cancelled: a write left behind on a frozen server ends with its connection.
            if self.pool is not None:
                self.pool.terminate()
            if self.metrics is not None:
                self.metrics.close()

    async def _give_back_leases(self) -> None:
        """What this router holds unused goes back for the other routers (no pick comes any more)."""
        assert self.leases is not None
        try:
            await self.leases.give_back_all()
        except RETRYABLE as exc:
            log.warning("leases not given back (unused picks written off for today): %s", exc)

    async def _final_flush(self, deadline: Deadline) -> bool:
        """Everything to PostgreSQL within the deadline, less ``SPILL_RESERVE``; what is not
        written by then to the history file, with its ids, for the next start. True when
        PostgreSQL took it all."""
        if self.flusher is None:
            return True
        limit = min(self.rc.shutdown_flush_timeout, deadline.left(SPILL_RESERVE))
        written = await self.flusher.drain(limit)
        if written:
            log.info("history flushed flushes=%d", self.flusher.flushes)
        unwritten = [] if written else self.flusher.take_unwritten()
        if self.spill is None:
            if unwritten:
                log.error("history lost: picks=%d (no history file)", sum(f.picks for f in unwritten))
            return written
        try:
            await asyncio.to_thread(self.spill.close, unwritten)
        except OSError as exc:
            log.error("could not keep unwritten history on disk path=%s: %s", self.spill.path, exc)
            return written
        if unwritten:
            log.warning(
                "history kept on disk until the next start: picks=%d path=%s",
                sum(f.picks for f in unwritten),
                self.spill.path,
            )
        return written

    async def _write_outcomes(self, totals: dict[OutcomeKey, list[int]], report_id: str) -> None:
        """Adds the outcomes in one transaction; a report id already applied adds nothing.
        The same-day breaker (rule 11) acts on them in that transaction."""
        if self.pool is None:
            raise OutcomesUnavailable("the router is starting; retry shortly")
        keys = sorted(totals)
        q = queries.load()
        try:
            async with asyncio.timeout(10), self.pool.acquire() as conn, conn.transaction():
                if report_id and await conn.fetchval(q["router_claim_outcome_report"], report_id) is None:
                    log.info("outcome report already applied report_id=%s; not added again", report_id)
                    return
                await conn.execute(
                    q["router_report_outcomes"],
                    [k[0] for k in keys],
                    [k[1] for k in keys],
                    [k[2] for k in keys],
                    [k[3] for k in keys],
                    *([totals[k][i] for k in keys] for i in range(len(OUTCOME_COUNTS))),
                )
                throttled = {k: totals[k][_THROTTLED] for k in keys}
                await rests.trip(conn, throttled, datetime.fromtimestamp(self.clock(), UTC))
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, ValueError) as exc:
            # The data, not the database (ValueError: asyncpg could not encode an argument):
            # a retry would fail the same way for ever, and the report's other outcomes with
            # it. Validation should have caught it first.
            log.warning("outcomes refused by PostgreSQL rows=%d: %s", len(keys), exc)
            raise RequestError("outcomes", f"refused by the database: {exc}") from exc
        except RETRYABLE as exc:
            log.warning("outcomes not written rows=%d: %s", len(keys), exc)
            raise OutcomesUnavailable(f"outcomes could not be stored, retry: {exc}") from exc


async def close_pool(pool: asyncpg.Pool, wait: float) -> None:
    """Close ``pool``, cutting its connections after ``wait`` seconds: ``Pool.close()``
    waits for every connection's release, for ever on a frozen PostgreSQL."""
    try:
        await asyncio.wait_for(pool.close(), wait)
    except TimeoutError:
        log.warning("database pool closed by cutting its connections after %.1fs", wait)
    except RETRYABLE as exc:
        log.warning("database pool closed by cutting its connections: %s", cause(exc))
    finally:
        pool.terminate()  # nothing left to do after a clean close
