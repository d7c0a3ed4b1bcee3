"""The Management service on a free port for one test: a real gRPC server over a real
socket, on the test's PostgreSQL, with real API keys of each kind (``KEYS``).

Use ``management_api`` from a fixture; ``Api.call`` sends with a key by its name,
``Api.fails`` expects a refusal and returns its code and message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import grpc
import pytest

from sendingip.v1 import management_pb2_grpc
from server.auth.authorizer import KeyAuthorizer
from server.auth.cache import load_active_keys
from server.auth.store import create_key
from server.management.servicer import ManagementServicer
from store.database import create_pool

#: (name, permissions, account scope) of the keys every test gets.
KEYS: tuple[tuple[str, list[str], list[str] | None], ...] = (
    ("admin", ["admin"], None),
    ("view", ["view"], None),
    ("view_acme", ["view"], ["acme"]),
    ("admin_acme", ["admin"], ["acme"]),
    ("route", ["route"], None),
)


@dataclass
class Api:
    stub: Any
    #: Tokens by key name.
    keys: dict[str, str]
    db: asyncpg.Connection
    pool: asyncpg.Pool

    async def call(self, method: str, request: Any, key: str | None = "admin") -> Any:
        """``method`` with the key named ``key`` (or ``key`` itself as a token; None: no key)."""
        metadata = () if key is None else (("authorization", f"Bearer {self.keys.get(key, key)}"),)
        return await getattr(self.stub, method)(request, metadata=metadata, timeout=10)

    async def fails(self, method: str, request: Any, key: str | None = "admin") -> tuple[grpc.StatusCode, str]:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await self.call(method, request, key)
        return err.value.code(), err.value.details() or ""

    def key_id(self, key: str) -> str:
        """The id the audit log names a key by."""
        return self.keys[key].split("_")[1]


@asynccontextmanager
async def management_api(
    db_url: str,
    db: asyncpg.Connection,
    clock: Callable[[], datetime],
    keys: Sequence[tuple[str, list[str], list[str] | None]] = KEYS,
) -> AsyncIterator[Api]:
    tokens = {}
    for name, perms, accounts in keys:
        new, _ = await create_key(db, perms, accounts, name)
        tokens[name] = new.token
    authorizer = KeyAuthorizer(await load_active_keys(db))
    pool = await create_pool(db_url, size=4)
    server = grpc.aio.server()
    servicer = ManagementServicer(pool, authorizer, clock=clock)
    management_pb2_grpc.add_ManagementServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Api(management_pb2_grpc.ManagementStub(channel), tokens, db, pool)  # type: ignore[no-untyped-call]
    finally:
        await channel.close()
        await server.stop(None)
        await pool.close()
