"""Numbered plain-SQL migrations (``store/migrations/NNNN_name.sql``) and their runner.

``apply_migrations`` runs every pending migration in one transaction that holds an
advisory lock, so several processes may run it at once: the first applies, the others
wait and then find nothing left to do. A failing migration leaves the schema unchanged.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from store import queries

log = logging.getLogger(__name__)
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    """The migrations shipped with the package, in order; their numbers run 1, 2, 3, …"""
    found = []
    for entry in (resources.files("store") / "migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
        elif entry.name.endswith(".sql"):
            raise ValueError(f"store/migrations/{entry.name}: expected NNNN_name.sql")
    found.sort(key=lambda m: m.version)
    numbers = [m.version for m in found]
    if numbers != list(range(1, len(found) + 1)):
        raise ValueError(f"store/migrations: numbers must run 1..N without gaps, found {numbers}")
    return found


async def apply_migrations(conn: asyncpg.Connection) -> list[Migration]:
    """Apply what is pending; return the migrations applied by this call."""
    q = queries.load()
    wanted = available_migrations()
    async with conn.transaction():
        await conn.execute(q["migration_lock"])
        await conn.execute(q["create_migrations_table"])
        applied = {row["version"]: row["name"] for row in await conn.fetch(q["applied_migrations"])}
        unknown = sorted(set(applied) - {m.version for m in wanted})
        if unknown:
            raise RuntimeError(
                f"the database has migrations {unknown} that this version of sendingip does not know; "
                "run a newer sendingip"
            )
        done = []
        for migration in wanted:
            if migration.version in applied:
                continue
            log.info("applying migration %04d_%s", migration.version, migration.name)
            await conn.execute(migration.sql)
            await conn.execute(q["record_migration"], migration.version, migration.name)
            done.append(migration)
    return done


async def pending_migrations(conn: asyncpg.Connection) -> list[Migration]:
    """Migrations not applied yet (all of them on an empty database)."""
    q = queries.load()
    exists = await conn.fetchval(q["migrations_table_exists"])
    applied = {row["version"] for row in await conn.fetch(q["applied_migrations"])} if exists else set()
    return [m for m in available_migrations() if m.version not in applied]
