"""Which PostgreSQL to use, and the connection pool on it."""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from store.config import DatabaseConfig
from store.embedded import EmbeddedPostgres


@dataclass(frozen=True)
class Database:
    """A resolved database: its URL and, when embedded, the server behind it."""

    url: str
    embedded: EmbeddedPostgres | None

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def open_database(config: DatabaseConfig) -> Database:
    """``SENDINGIP_DATABASE_URL`` when set, else the embedded PostgreSQL (started now)."""
    if config.url:
        return Database(url=config.url, embedded=None)
    embedded = EmbeddedPostgres(config.data_dir / "postgres")
    return Database(url=embedded.start(), embedded=embedded)


async def create_pool(url: str, *, size: int = 10, min_size: int = 0, **kwargs: Any) -> asyncpg.Pool:
    """An asyncpg pool. Session state (LISTEN, advisory locks) never lives on it.

    ``min_size`` 0: with a floor, asyncpg (0.32) reconnects in the background while
    PostgreSQL is away and logs a warning with a traceback at every try; without one,
    connections are made when a caller needs one, and the caller's loop logs the outage
    once (``store/outage.py``).
    """
    pool = await asyncpg.create_pool(
        url, min_size=min_size, max_size=size, init=_init_connection, command_timeout=60, **kwargs
    )
    assert pool is not None
    return pool


@contextlib.asynccontextmanager
async def connect(url: str) -> AsyncIterator[asyncpg.Connection]:
    """One connection of its own, outside any pool, closed on exit."""
    conn = await asyncpg.connect(url)
    try:
        await _init_connection(conn)
        yield conn
    finally:
        await conn.close()


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.execute("SET TIME ZONE 'UTC'")


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` instead (host, user and options kept)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(name)))


def database_identity(url: str) -> str:
    """A stable name for the database ``url`` points at (its password left out): what the
    files a server keeps beside a database (routing snapshot, saved keys, history) are
    named after and checked against."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = "&".join(sorted(p for p in parts.query.split("&") if not p.startswith("password=")))
    return f"{netloc}{parts.path}?{query}"
