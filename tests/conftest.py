"""Shared fixtures: one PostgreSQL per test run, a migrated template database built once,
and a fresh database per test made from it (``CREATE DATABASE … TEMPLATE``).

The PostgreSQL is ``SENDINGIP_TEST_DATABASE_URL`` when set (any database on the server;
the tests create and drop their own), else an embedded one in a folder of its own outside
pytest's temporary folders (``tests/embedded_pg.py`` says why).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from store.database import connect, create_pool, with_database
from store.embedded import EmbeddedPostgres
from store.migrate import apply_migrations
from tests.embedded_pg import own_folder
from tests.support.databases import RUN_ID, DatabaseFactory


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """Admin URL of the PostgreSQL server the tests use."""
    url = os.environ.get("SENDINGIP_TEST_DATABASE_URL")
    if url:
        yield url
        return
    with own_folder() as folder:
        embedded = EmbeddedPostgres(folder / "pg")
        try:
            yield embedded.start()
        finally:
            embedded.stop()


@pytest.fixture(scope="session")
async def template_db(pg_server_url: str) -> AsyncIterator[str]:
    """Name of a database with every migration applied; never used directly by tests."""
    name = f"sipt_{RUN_ID}_template"
    async with connect(pg_server_url) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        async with connect(with_database(pg_server_url, name)) as conn:
            await apply_migrations(conn)
        yield name
    finally:
        async with connect(pg_server_url) as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def databases(pg_server_url: str, template_db: str) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory(pg_server_url, template_db)
    try:
        yield factory
    finally:
        await factory.drop_all()


@pytest.fixture
async def db_url(databases: DatabaseFactory) -> str:
    """URL of a fresh, migrated database for this test."""
    return await databases.create()


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A connection pool on this test's fresh database."""
    pool = await create_pool(db_url, size=4)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to this test's fresh database."""
    async with connect(db_url) as conn:
        yield conn


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
