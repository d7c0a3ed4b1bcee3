"""Wires the router together and owns its lifecycle.

``run()`` loads the routing table (from PostgreSQL, else from the disk snapshot),
then runs the named side tasks — listener, loader, flusher, heartbeat, snapshot —
until ``stop()``; a side task that fails stops the router loudly. ``stop()`` is
idempotent: it ends the side tasks, flushes all history (the final flush of SIGTERM),
saves the snapshot, removes the heartbeat and closes the pool. Signal handling is
the entry point's business (cli/serve.py), never this module's.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
import grpc

from sendingip.v1 import router_pb2_grpc
from server.authz import Authorizer
from server.config import ServerConfig
from server.router import snapshot, spill
from server.router.engine import Engine
from server.router.heartbeat import Heartbeat
from server.router.history import (
    RETRYABLE,
    Flush,
    HistoryBuffer,
    HistoryFlusher,
    HistorySink,
    PostgresHistorySink,
    day_of,
)
from server.router.limits import SECONDS_PER_DAY, DailyLimits
from server.router.loader import Loader, apply_entries
from server.router.metrics import MetricsServer
from server.router.pacing import Pacer
from server.router.providers import ProviderTable
from server.router.servicer import OutcomeKey, OutcomesUnavailable, RouterServicer
from server.router.table import RoutingTable
from server.router.validate import OUTCOME_COUNTS
from store import queries

log = logging.getLogger(__name__)

SNAPSHOT_EVERY = 30.0


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
        self.limits = DailyLimits(int(clock() // SECONDS_PER_DAY))
        self.history = HistoryBuffer(self.rc.max_pending_keys)
        self.engine = Engine(self.table, self.limits, self.history, default_region=config.default_region, clock=clock)
        self.servicer = RouterServicer(
            self.engine, self.providers, authorizer, self._write_outcomes, max_batch=self.rc.max_batch
        )
        self.snapshot_path = snapshot.path_for(config.database.data_dir / "router", self.url)
        self.spill_path = spill.path_for(config.database.data_dir / "router", self.url)
        self.pool: asyncpg.Pool | None = None
        self.loader: Loader | None = None
        self.flusher: HistoryFlusher | None = None
        self.heartbeat: Heartbeat | None = None
        self.metrics: MetricsServer | None = None
        #: Set once a routing table is loaded (SERVING).
        self.ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._done = asyncio.Event()
        self._running = False
        self._from_snapshot_at: float | None = None
        self._saved_version = -1

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

    async def stop(self) -> None:
        """Idempotent; returns once ``run()`` has flushed and closed everything."""
        self._stopping.set()
        if self._running:
            await self._done.wait()

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
        self.flusher = HistoryFlusher(
            self.history, sink, interval=self.rc.flush_interval, on_written=self._forget_spill_when_done
        )
        self.flusher.restored = await asyncio.to_thread(spill.load, self.spill_path)
        if self.flusher.restored:
            log.warning(
                "history kept on disk by the last stop: flushes=%d picks=%d path=%s; writing them first",
                len(self.flusher.restored),
                sum(f.picks for f in self.flusher.restored),
                self.spill_path,
            )
        self.loader = Loader(self.pool, self.table, poll_interval=self.rc.poll_interval, on_synced=self._synced)
        self.heartbeat = Heartbeat(
            self.pool,
            self.rc.router_id,
            self.limits,
            lambda: self.table.version,
            address=self.config.listen,
            interval=self.rc.heartbeat_interval,
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
            # Side tasks return on ``_stopping``; give them a moment, then cancel.
            _, pending = await asyncio.wait(tasks, timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, stopping, return_exceptions=True)

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
                await self._seed_limits()
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
        found = await asyncio.to_thread(snapshot.load, self.snapshot_path, snapshot.database_identity(self.url))
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

    async def _seed_limits(self) -> None:
        assert self.heartbeat is not None and self.pool is not None
        day = int(self.clock() // SECONDS_PER_DAY)
        try:
            await self.heartbeat.beat()
            async with asyncio.timeout(10), self.pool.acquire() as conn:
                rows = await conn.fetch(queries.load()["router_counted_today"], day_of(day))
            self.limits.seed(day, [(r["ip"], r["mailbox_provider"], int(r["total"])) for r in rows])
        except RETRYABLE as exc:
            log.warning("could not read today's counts to seed the daily limits: %s", exc)

    def _forget_spill_when_done(self, _flush: Flush, _applied: bool) -> None:
        if self.flusher is not None and not self.flusher.restored and self.spill_path.exists():
            spill.remove(self.spill_path)
            log.info("history kept on disk is written; removed %s", self.spill_path)

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
        identity = snapshot.database_identity(self.url)
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
        if self.flusher is not None:
            ok = await self.flusher.drain(self.rc.shutdown_flush_timeout)
            if ok:
                log.info("history flushed flushes=%d", self.flusher.flushes)
            else:
                unwritten = self.flusher.take_unwritten()
                try:
                    picks = await asyncio.to_thread(spill.save, self.spill_path, unwritten)
                    log.warning("history kept on disk until the next start: picks=%d path=%s", picks, self.spill_path)
                except OSError as exc:
                    log.error("could not keep unwritten history on disk path=%s: %s", self.spill_path, exc)
        if self.table.loaded:
            await self.save_snapshot()
        if self.heartbeat is not None and self.ready.is_set():
            await self.heartbeat.remove()
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pool.close(), 5)
        if self.metrics is not None:
            self.metrics.close()

    async def _write_outcomes(self, totals: dict[OutcomeKey, list[int]], report_id: str) -> None:
        """Adds the outcomes in one transaction; a report id already applied adds nothing."""
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
        except RETRYABLE as exc:
            log.warning("outcomes not written rows=%d: %s", len(keys), exc)
            raise OutcomesUnavailable(f"outcomes could not be stored, retry: {exc}") from exc
