"""`sendingip serve`: the router (and, unless --no-workers, the workers in-process); with
`--processes N`, N routers on the same ports (`cli/cluster.py`). The router's life itself is
``cli/serving.py``'s."""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

from cli import cluster
from cli.runtime import database
from cli.serving import serve
from server import app
from server.cluster import member_count
from server.config import ServerConfig


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="run the router (and the workers, unless --no-workers)")
    parser.add_argument("--listen", metavar="HOST:PORT", help="overrides SENDINGIP_LISTEN (127.0.0.1:50051)")
    parser.add_argument("--no-workers", action="store_true", help="run the workers as separate processes")
    parser.add_argument(
        "--processes",
        metavar="N|auto",
        help="N router processes sharing the ports (auto: one per core), the workers in the parent; "
        "see docs/operations.md, Several processes",
    )
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    config = ServerConfig.from_env()
    if args.listen:
        config = dataclasses.replace(config, listen=args.listen)
    if args.processes is not None:
        processes = member_count(args.processes, os.cpu_count())
        return cluster.command(config, processes, workers=not args.no_workers, log_level=args.log_level)
    app.raise_descriptor_limit(config)  # so that a flood meets the connection bounds first
    with database(config.database) as db:
        config = dataclasses.replace(config, database=dataclasses.replace(config.database, url=db.url))
        return serve(config, workers=not args.no_workers)
