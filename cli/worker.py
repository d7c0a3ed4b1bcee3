"""`sendingip worker [--once] [--as-of YYYY-MM-DD]`: the rebalancer."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import date
from typing import Any

from cli.runtime import INIT_HELP, database, run_async, until_signalled
from server.router.metrics import MetricsEndpoint
from store.config import DatabaseConfig
from store.database import connect, create_pool
from store.migrate import apply_migrations
from store.outage import UNREACHABLE, cause
from workers.metrics import WorkerCollector
from workers.service import Worker, WorkerConfig

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("worker", help="run the rebalancer (active, or hot standby while another is active)")
    parser.add_argument("--once", action="store_true", help="run one rebalance and exit")
    parser.add_argument(
        "--as-of", metavar="YYYY-MM-DD", type=_day, help="with --once: decide as if today were this day (UTC)"
    )
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="with --once: how long to wait for a rebalance in progress to finish (default 600)",
    )
    parser.add_argument("--init", action="store_true", help=INIT_HELP)
    parser.set_defaults(func=command)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def command(args: argparse.Namespace) -> int:
    if args.as_of and not args.once:
        print("error: --as-of goes with --once", file=sys.stderr)
        return 2
    config = WorkerConfig.from_env()
    with database(DatabaseConfig.from_env(), init=args.init) as db:
        if args.once:
            return run_async(until_signalled(lambda stop: _once(db.url, config, args.as_of, args.lock_timeout, stop)))
        return run_async(until_signalled(lambda stop: _forever(db.url, config, stop)))


async def _once(url: str, config: WorkerConfig, as_of: date | None, lock_timeout: float, stop: asyncio.Event) -> int:
    async with connect(url) as conn:
        await apply_migrations(conn)
    pool = await create_pool(url, size=5)
    worker = Worker(pool, url, config, stop=stop)  # SIGTERM/Ctrl-C: stop between accounts
    try:
        try:
            report = await worker.rebalance_once(as_of, lock_timeout=lock_timeout, progress=_progress)
        except UNREACHABLE as exc:
            print(
                f"error: PostgreSQL unreachable during the rebalance ({cause(exc)}); "
                "the accounts applied before stay applied: run it again",
                file=sys.stderr,
            )
            return 1
        if report is None:
            if stop.is_set():
                print("stopped before the rebalance began", file=sys.stderr)
                return 1
            print(f"error: another rebalance is running; waited {lock_timeout:.0f}s", file=sys.stderr)
            return 1
        print(report.summary())
        return 1 if report.failed or report.stopped else 0
    finally:
        await pool.close()


def _progress(done: int, total: int) -> None:
    if total >= 5000:
        print(f"rebalanced {done:,}/{total:,} accounts", file=sys.stderr, flush=True)


async def _forever(url: str, config: WorkerConfig, stop: asyncio.Event) -> int:
    async with connect(url) as conn:
        await apply_migrations(conn)
    pool = await create_pool(url, size=5)
    worker = Worker(pool, url, config, stop=stop)  # SIGTERM: stop between accounts (docs/operations.md)
    metrics = MetricsEndpoint(WorkerCollector(worker.metrics), config.metrics_listen)
    try:
        await worker.run()
    finally:
        metrics.close()
        await pool.close()
    log.info("worker stopped")
    return 0
