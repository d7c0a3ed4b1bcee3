"""`sendingip worker [--once] [--as-of YYYY-MM-DD]`: the rebalancer."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from typing import Any

from cli.runtime import database, run_async, until_signalled
from store.config import DatabaseConfig
from store.database import connect, create_pool
from store.migrate import apply_migrations
from workers.service import Worker, WorkerConfig


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
    with database(DatabaseConfig.from_env()) as db:
        if args.once:
            return run_async(_once(db.url, config, args.as_of, args.lock_timeout))
        return run_async(until_signalled(lambda stop: _forever(db.url, config, stop)))


async def _once(url: str, config: WorkerConfig, as_of: date | None, lock_timeout: float) -> int:
    async with connect(url) as conn:
        await apply_migrations(conn)
    pool = await create_pool(url, size=5)
    worker = Worker(pool, url, config)
    try:
        report = await worker.rebalance_once(as_of, lock_timeout=lock_timeout, progress=_progress)
        if report is None:
            print(f"error: another rebalance is running; waited {lock_timeout:.0f}s", file=sys.stderr)
            return 1
        print(report.summary())
        return 1 if report.failed else 0
    finally:
        await pool.close()


def _progress(done: int, total: int) -> None:
    if total >= 5000:
        print(f"rebalanced {done:,}/{total:,} accounts", file=sys.stderr, flush=True)


async def _forever(url: str, config: WorkerConfig, stop: asyncio.Event) -> int:
    async with connect(url) as conn:
        await apply_migrations(conn)
    pool = await create_pool(url, size=5)
    worker = Worker(pool, url, config)
    task = asyncio.create_task(worker.run(), name="rebalancer")
    try:
        await asyncio.wait([task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        worker.stop()
        await task
    finally:
        await pool.close()
    return 0
