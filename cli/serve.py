"""`sendingip serve`: the router (and, unless --no-workers, the workers in-process)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
from typing import Any

import asyncpg

from cli.runtime import database, run_async, until_signalled
from server import app
from server.adapters.listener import ListenError
from server.adapters.runtime import Doors
from server.config import ServerConfig
from server.management.runtime import ManagementRuntime
from server.router.runtime import RouterRuntime, assert_upb
from store.database import connect, create_pool
from store.migrate import apply_migrations
from workers.service import Worker, WorkerConfig

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="run the router (and the workers, unless --no-workers)")
    parser.add_argument("--listen", metavar="HOST:PORT", help="overrides SENDINGIP_LISTEN (127.0.0.1:50051)")
    parser.add_argument("--no-workers", action="store_true", help="run the workers as separate processes")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    config = ServerConfig.from_env()
    if args.listen:
        config = dataclasses.replace(config, listen=args.listen)
    with database(config.database) as db:
        config = dataclasses.replace(config, database=dataclasses.replace(config.database, url=db.url))
        try:
            run_async(until_signalled(lambda stop: _serve(config, stop, workers=not args.no_workers)))
        except ListenError as exc:
            log.error("%s", exc)
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return 0


async def _serve(config: ServerConfig, stop: asyncio.Event, *, workers: bool = True) -> None:
    assert config.database.url is not None
    assert_upb()
    if config.auto_migrate:
        await _migrate(config.database.url)
    management = await ManagementRuntime.start(config)  # API keys (and the first admin key), TLS
    runtime = RouterRuntime(config, management.authorizer)
    server = await app.create_server(
        config,
        services=[runtime.add_to_server, management.add_to_server],
        options=runtime.grpc_options(),
        credentials=management.credentials,
    )
    await server.start(config.listen)
    try:
        doors = await Doors.start(config.adapters, runtime, management.servicer)
    except BaseException:
        await server.stop(0)
        await management.stop()
        raise
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
        if worker is not None:
            await worker.stop()  # ends after the account it is on; the rest waits for the next run
        # No new picks first, then the final history flush.
        runtime.servicer.draining = True
        await doors.stop()
        await server.stop(config.shutdown_grace)
        await runtime.stop()
        await management.stop()
        await router  # re-raises a side task's failure: exit non-zero, loudly
        if worker is not None:
            worker.raise_failure()


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
            await pool.close()

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()
        if self._task is not None:
            await asyncio.wait([self._task], timeout=30)

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
    except (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError) as exc:
        log.error("cannot migrate: PostgreSQL unreachable (%s); starting without it", exc)
