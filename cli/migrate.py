"""`sendingip migrate`: bring the schema up to date (safe to run concurrently)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli.runtime import INIT_HELP, database, run_async
from store import schema
from store.config import DatabaseConfig
from store.database import connect
from store.migrate import apply_migrations


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("migrate", help="bring the PostgreSQL schema up to date")
    parser.add_argument(
        "--write-snapshot",
        action="store_true",
        help="after migrating, rewrite store/schema.snapshot (for developers adding a migration)",
    )
    parser.add_argument("--init", action="store_true", help=INIT_HELP)
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    with database(DatabaseConfig.from_env(), init=args.init) as db:
        described = run_async(_migrate(db.url))
    if args.write_snapshot:
        Path(schema.snapshot_path()).write_text(described, encoding="utf-8")
        print(f"wrote {schema.snapshot_path()}")
    return 0


async def _migrate(url: str) -> str:
    """Apply what is pending, say what was done, and describe the resulting schema."""
    async with connect(url) as conn:
        applied = await apply_migrations(conn)
        for m in applied:
            print(f"applied {m.version:04d}_{m.name}")
        if not applied:
            print("schema is up to date")
        return await schema.describe(conn)
