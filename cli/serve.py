"""`sendingip serve`: the router (and, unless --no-workers, the workers in-process)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
from typing import Any

import asyncpg

from cli.runtime import database, run_async, until_signalled
from server import app
from server.config import ServerConfig
from server.management.runtime import ManagementRuntime
from server.router.runtime import RouterRuntime, assert_upb
from store.database import connect
from store.migrate import apply_migrations

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
        run_async(until_signalled(lambda stop: _serve(config, stop)))
    return 0


async def _serve(config: ServerConfig, stop: asyncio.Event) -> None:
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
    router = asyncio.create_task(runtime.run(), name="router")
    stopped = asyncio.create_task(stop.wait(), name="stop-signal")
    ready = asyncio.create_task(runtime.ready.wait(), name="router-ready")
    try:
        await asyncio.wait([router, stopped, ready], return_when=asyncio.FIRST_COMPLETED)
        if ready.done() and not stop.is_set():
            await server.set_serving(True)
            await asyncio.wait([router, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        ready.cancel()
        stopped.cancel()
        # No new picks first, then the final history flush.
        await server.stop(config.shutdown_grace)
        await runtime.stop()
        await management.stop()
        await router  # re-raises a side task's failure: exit non-zero, loudly


async def _migrate(url: str) -> None:
    """Apply pending migrations; with PostgreSQL down the router may still serve its snapshot."""
    try:
        async with asyncio.timeout(15), connect(url) as conn:
            for m in await apply_migrations(conn):
                log.info("applied migration %04d_%s", m.version, m.name)
    except (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError) as exc:
        log.error("cannot migrate: PostgreSQL unreachable (%s); starting without it", exc)
