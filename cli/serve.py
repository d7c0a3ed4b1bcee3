"""`sendingip serve`: the router (and, unless --no-workers, the workers in-process); with
`--processes N`, N routers on the same ports (`cli/cluster.py`). The router's life itself is
``cli/serving.py``'s."""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from typing import Any

from cli import cluster, local_server
from cli.runtime import INIT_HELP, locate, opened
from cli.serving import serve
from server import app
from server.cluster import member_count
from server.config import ServerConfig
from store.config import ConfigError
from store.embedded import record_data_dir


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="run the router (and the workers, unless --no-workers)")
    parser.add_argument("--listen", metavar="HOST:PORT", help="overrides SENDINGIP_LISTEN (127.0.0.1:50051)")
    parser.add_argument("--no-workers", action="store_true", help="run the workers as separate processes")
    parser.add_argument("--init", action="store_true", help=INIT_HELP + " (`make run` passes it)")
    parser.add_argument(
        "--processes",
        metavar="N|auto",
        help="N router processes sharing the ports (auto: one per CPU it may use), the workers in the parent; "
        "see docs/operations.md, Several processes",
    )
    parser.add_argument(
        "--pin-cpus",
        action="store_true",
        help="with --processes: each process on a CPU of its own (the i-th it may use); "
        "see docs/operations.md, Several processes",
    )
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    started = time.monotonic()
    if args.pin_cpus and args.processes is None:
        raise ConfigError("--pin-cpus pins the processes of --processes N; pin a single router with taskset")
    allowed = allowed_cpus()
    if args.pin_cpus and allowed is None:
        raise ConfigError("--pin-cpus needs Linux (sched_setaffinity)")
    config = ServerConfig.from_env()
    if args.listen:
        config = dataclasses.replace(config, listen=args.listen)
    # The data folder, absolute: written down for commands run from elsewhere (cli/runtime.py).
    config = dataclasses.replace(config, database=locate(config.database, init=args.init, serving=True))
    record_data_dir(config.database.data_dir, os.environ)
    if args.processes is not None:
        processes = member_count(args.processes, len(allowed) if allowed is not None else os.cpu_count())
        return cluster.command(
            config,
            processes,
            workers=not args.no_workers,
            log_level=args.log_level,
            started=started,
            cpus=allowed if args.pin_cpus else None,
        )
    app.raise_descriptor_limit(config)  # so that a flood meets the connection bounds first
    with opened(config.database) as db:
        config = dataclasses.replace(config, database=dataclasses.replace(config.database, url=db.url))
        folder = config.database.data_dir
        try:
            return serve(config, workers=not args.no_workers, on_serving=lambda parts: _serving(config, parts, started))
        finally:
            local_server.remove(folder)


def allowed_cpus() -> list[int] | None:
    """The CPUs this process may run on (taskset, a container's cpuset), not all the host has,
    or None where the system cannot tell (not Linux): ``--processes auto`` counts them, so in
    a container limited to 2 CPUs of 64 it starts 2 routers, not 64; ``--pin-cpus`` uses them."""
    if hasattr(os, "sched_getaffinity") and hasattr(os, "sched_setaffinity"):
        return sorted(os.sched_getaffinity(0))
    return None


def _serving(config: ServerConfig, parts: app.Assembly, started: float) -> None:
    """Print every address the server listens on, and write them down for the client commands."""
    addresses = {"grpc": local_server.address(config.listen, parts.server.port)}
    addresses.update({name: local_server.host_port(d.host, d.port) for name, d in parts.doors.listeners.items()})
    metrics = parts.router.metrics
    if metrics is not None and metrics.port:
        addresses["metrics"] = local_server.address(config.router.metrics_listen, metrics.port)
    local_server.write(config.database.data_dir, addresses)
    print(local_server.banner(addresses, time.monotonic() - started, config.database.data_dir), flush=True)
