"""One router process's life: started, serving until SIGTERM or SIGINT, stopped in order.

What `sendingip serve` runs, and what each member of `serve --processes N` runs
(``cli/cluster.py``); ``cli/serve.py`` only reads the command line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Callable

from cli.runtime import run_async, until_signalled
from server import app
from server.adapters.listener import ListenError
from server.config import ServerConfig
from server.router.runtime import POOL_CLOSE_WAIT, assert_upb, close_pool
from server.rpc_metrics import RpcCollector
from server.shutdown import Deadline, cancel
from store.database import connect, create_pool
from store.migrate import apply_migrations
from store.outage import CANNOT_CONNECT
from workers.metrics import WorkerCollector, WorkerMetrics
from workers.service import Worker, WorkerConfig

log = logging.getLogger(__name__)

#: Most seconds the doors get to close their connections.
DOORS_WAIT = 2.0
#: Seconds past the deadline after which a shutdown that is still not done exits hard.
WATCHDOG_MARGIN = 0.5


def serve(config: ServerConfig, *, workers: bool, on_serving: Callable[[app.Assembly], None] | None = None) -> int:
    """Run one router with ``config`` (its database URL set) until SIGTERM or SIGINT; the
    exit code (2: a port cannot be bound)."""
    watchdog = Watchdog()
    try:
        run_async(
            until_signalled(
                lambda stop: _serve(config, stop, workers=workers, watchdog=watchdog, on_serving=on_serving)
            )
        )
    except ListenError as exc:
        log.error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        watchdog.cancel()  # the event loop is closed: every task has ended
    return 0


async def _serve(
    config: ServerConfig,
    stop: asyncio.Event,
    *,
    workers: bool = True,
    watchdog: Watchdog | None = None,
    on_serving: Callable[[app.Assembly], None] | None = None,
) -> None:
    """``on_serving``: called once the router answers picks (a cluster's member tells its parent)."""
    assert config.database.url is not None
    assert_upb()
    if config.auto_migrate:
        await migrate_at_start(config.database.url)
    parts = await app.Assembly.start(config)  # API keys (and the first admin key), TLS, services, doors
    runtime, server = parts.router, parts.server
    router = asyncio.create_task(runtime.run(), name="router")
    stopped = asyncio.create_task(stop.wait(), name="stop-signal")
    ready = asyncio.create_task(runtime.ready.wait(), name="router-ready")
    worker = InProcessWorker(config) if workers else None
    watched = [router, stopped] + ([worker.start()] if worker else [])
    try:
        await asyncio.wait([*watched, ready], return_when=asyncio.FIRST_COMPLETED)
        if ready.done() and not stop.is_set():
            _add_metrics(parts, worker)
            await server.set_serving(True)
            if on_serving is not None:
                on_serving(parts)
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ready.cancel()
        stopped.cancel()
        if watchdog is not None:
            watchdog.start(config.shutdown_deadline + WATCHDOG_MARGIN)
        await _shutdown(config, parts, worker, router)


def _add_metrics(parts: app.Assembly, worker: InProcessWorker | None) -> None:
    """The gRPC methods' latencies and the in-process rebalancer's runs on the router's
    metrics endpoint (made once the router runs; the router's own metrics are its)."""
    endpoint = parts.router.metrics
    if endpoint is not None:
        endpoint.add(RpcCollector(parts.server.latencies))
        if worker is not None:
            endpoint.add(WorkerCollector(worker.metrics))


async def _shutdown(
    config: ServerConfig, parts: app.Assembly, worker: InProcessWorker | None, router: asyncio.Task[None]
) -> None:
    """Every step within what is left of one deadline (``server/shutdown.py``): the
    process ends by ``SENDINGIP_SHUTDOWN_DEADLINE`` whatever PostgreSQL does, with the
    history it could not write on disk before that."""
    deadline = Deadline(config.shutdown_deadline)
    # Beside the router's stop: the worker ends after the account it is on.
    worker_stopped = asyncio.create_task(worker.stop(deadline)) if worker is not None else None
    # No new picks first, then the final history flush.
    parts.router.servicer.draining = True
    await deadline.run("doors stop", parts.doors.stop(), limit=DOORS_WAIT)
    grace = min(config.shutdown_grace, deadline.left() / 2)
    await deadline.run("gRPC server stop", parts.server.stop(grace), limit=grace + DOORS_WAIT)
    # No calls any more: Management's pool and the key refresh can go beside the router's stop.
    management_stopped = asyncio.create_task(deadline.run("management stop", parts.stop_access()))
    if not await deadline.run("router stop", parts.router.stop(deadline)):
        await cancel(router, "router", deadline.seconds)
    await management_stopped
    if worker_stopped is not None:
        await worker_stopped
    if not router.cancelled():
        await router  # re-raises a side task's failure: exit non-zero, loudly
    if worker is not None:
        worker.raise_failure()


class Watchdog:
    """The last resort: a task that ignores its cancellation (the event loop waits for
    every task when it closes) must not hold the process past the container's grace,
    which would SIGKILL it anyway, without a word."""

    def __init__(self) -> None:
        self._timer: threading.Timer | None = None

    def start(self, seconds: float) -> None:
        def expire() -> None:
            log.error("shutdown still not done %.1fs after SIGTERM; exiting now", seconds)
            logging.shutdown()
            os._exit(1)

        self._timer = threading.Timer(seconds, expire)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class InProcessWorker:
    """The rebalancer beside the router (one-machine setup): active or hot standby."""

    def __init__(self, config: ServerConfig) -> None:
        assert config.database.url is not None
        self.url = config.database.url
        self.config = WorkerConfig.from_env()
        #: Its runs' metrics, kept across its workers (``workers/metrics.py``).
        self.metrics = WorkerMetrics()
        self._worker: Worker | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self._run(), name="worker")
        return self._task

    async def _run(self) -> None:
        # min_size=0: no connection until the first run, so a router starting while
        # PostgreSQL is down still starts; the worker retries on its own schedule.
        pool = await create_pool(self.url, size=3, min_size=0)
        try:
            self._worker = Worker(pool, self.url, self.config, metrics=self.metrics)
            await self._worker.run()
        finally:
            await close_pool(pool, POOL_CLOSE_WAIT)  # Pool.close() alone waits for ever on a frozen server

    async def stop(self, deadline: Deadline) -> None:
        """Waits for the account in progress within ``deadline``; cancelled beyond it (the
        account's transaction rolls back, as after a crash)."""
        if self._worker is not None:
            self._worker.stop()
        if self._task is not None and not self._task.done():
            await deadline.run("in-process worker stop", self._task)

    def raise_failure(self) -> None:
        if self._task is not None and self._task.done() and not self._task.cancelled():
            exc = self._task.exception()
            if exc is not None:
                raise RuntimeError("the in-process worker failed") from exc


async def migrate_at_start(url: str) -> None:
    """Apply pending migrations; with PostgreSQL down the router may still serve its snapshot."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(15), connect(url) as conn:
            applied = await apply_migrations(conn)  # store.migrate logs each one
        log.info("schema up to date: %d migrations applied in %.1fs", len(applied), time.monotonic() - started)
    except CANNOT_CONNECT as exc:
        log.error("cannot migrate: PostgreSQL unreachable (%s); starting without it", exc)
