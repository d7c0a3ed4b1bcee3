"""The databases of one test run: each test gets its own, made from a migrated template
(``CREATE DATABASE … TEMPLATE``), and drops them afterwards (the ``databases`` fixture of
``tests/conftest.py``; tests that make several take it by this type)."""

from __future__ import annotations

import uuid

import asyncpg

from store import queries
from store.database import connect, with_database
from store.migrate import available_migrations

#: Names this run's databases, so that runs side by side on one server never collide.
RUN_ID = uuid.uuid4().hex[:8]


class DatabaseFactory:
    """Makes databases for one test and drops them afterwards."""

    def __init__(self, server_url: str, template: str) -> None:
        self.server_url = server_url
        self.template = template
        self.created: list[str] = []

    async def create(self, *, migrated: bool = True) -> str:
        name = f"sipt_{RUN_ID}_{uuid.uuid4().hex[:12]}"
        template = self.template if migrated else "template0"
        async with connect(self.server_url) as admin:
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self.created.append(name)
        return with_database(self.server_url, name)

    async def drop_all(self) -> None:
        async with connect(self.server_url) as admin:
            for name in self.created:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def migrate_through(conn: asyncpg.Connection, count: int) -> None:
    """The first ``count`` migrations applied and recorded, as a database of that release
    has them: the start of an upgrade test."""
    q = queries.load()
    await conn.execute(q["create_migrations_table"])
    for migration in available_migrations()[:count]:
        await conn.execute(migration.sql)
        await conn.execute(q["record_migration"], migration.version, migration.name)
