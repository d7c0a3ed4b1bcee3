"""`sendingip serve`: the router (and, unless --no-workers, the workers in-process)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
from typing import Any

from cli.runtime import database, run_async, until_signalled
from server import app
from server.config import ServerConfig
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
    if config.auto_migrate:
        async with connect(config.database.url) as conn:
            for m in await apply_migrations(conn):
                log.info("applied migration %04d_%s", m.version, m.name)
    server = await app.create_server(config)
    await server.start(config.listen)
    try:
        await stop.wait()
    finally:
        await server.stop(config.shutdown_grace)
