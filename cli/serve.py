"""`sendingip serve`: the router (and, unless --no-workers, the workers in-process)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
import threading
from typing import Any

from cli.runtime import database, run_async, until_signalled
from server import app
from server.adapters.listener import ListenError
from server.config import ServerConfig
from server.router.runtime import POOL_CLOSE_WAIT, assert_upb, close_pool
from server.shutdown import Deadline, cancel
from store.database import connect, create_pool
from store.migrate import apply_migrations
from store.outage import CANNOT_CONNECT
from workers.service import Worker, WorkerConfig

log = logging.getLogger(__name__)

#: Most seconds the doors get to close their connections.
DOORS_WAIT = 2.0
#: Seconds past the deadline after which a shutdown that is still not done exits hard.
WATCHDOG_MARGIN = 0.5


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="run the router (and the workers, unless --no-workers)")
    parser.add_argument("--listen", metavar="HOST:PORT", help="overrides SENDINGIP_LISTEN (127.0.0.1:50051)")
    parser.add_argument("--no-workers", action="store_true", help="run the workers as separate processes")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    config = ServerConfig.from_env()
    if args.listen:
        config = dataclasses.replace(config, listen=args.listen)
    app.raise_descriptor_limit(config)  # so that a flood meets the connection bounds first
    with database(config.database) as db:
        config = dataclasses.replace(config, database=dataclasses.replace(config.database, url=db.url))
        watchdog = Watchdog()
        try:
            run_async(
                until_signalled(lambda stop: _serve(config, stop, workers=not args.no_workers, watchdog=watchdog))
            )
        except ListenError as exc:
            log.error("%s", exc)
            print(f"error: {exc}", file=sys.stderr)
            return 2
        finally:
            watchdog.cancel()  # the event loop is closed: every task has ended
    return 0


async def _serve(
    config: ServerConfig, stop: asyncio.Event, *, workers: bool = True, watchdog: Watchdog | None = None
) -> None:
    assert config.database.url is not None
    assert_upb()
    if config.auto_migrate:
        await _migrate(config.database.url)
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
            await server.set_serving(True)
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ready.cancel()
        stopped.cancel()
        if watchdog is not None:
            watchdog.start(config.shutdown_deadline + WATCHDOG_MARGIN)
        await _shutdown(config, parts, worker, router)


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
            self._worker = Worker(pool, self.url, self.config)
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


async def _migrate(url: str) -> None:
    """Apply pending migrations; with PostgreSQL down the router may still serve its snapshot."""
    try:
        async with asyncio.timeout(15), connect(url) as conn:
            for m in await apply_migrations(conn):
                log.info("applied migration %04d_%s", m.version, m.name)
    except CANNOT_CONNECT as exc:
        log.error("cannot migrate: PostgreSQL unreachable (%s); starting without it", exc)
