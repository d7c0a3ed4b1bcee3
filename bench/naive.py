"""The naive baseline: a router that reads PostgreSQL on every request.

What a first implementation would do: for each ``SelectSendingIP``, read the account's
routing entry and its region's general pool from ``routing_entries`` (one statement,
prepared once by asyncpg), compile them, and make the same pick with the same engine,
counters and key check as ``sendingip serve``. Only the table lookup differs, so the
ratio between the two is what answering from memory buys.

    python -m bench.naive --database-url URL [--listen 127.0.0.1:0]
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import cast

import asyncpg
import grpc
import uvloop

from sendingip.v1 import router_pb2, router_pb2_grpc
from server import validate
from server.auth.authorizer import KeyAuthorizer
from server.auth.cache import load_active_keys
from server.authz import Metadata
from server.router.engine import Engine
from server.router.history_buffer import HistoryBuffer
from server.router.limits import SECONDS_PER_DAY, DailyLimits
from server.router.pick import NoGeneralPool
from server.router.providers import ProviderTable
from server.router.table import CompiledAccount, CompiledRegion, RoutingTable, compile_entry
from server.validate import RequestError

log = logging.getLogger(__name__)

#: The account's entry, and the general pool of its region (or of the request's region).
ENTRIES = """
SELECT kind, key, version, entry::text AS entry
FROM routing_entries
WHERE (kind = 'account' AND key = $1)
   OR (kind = 'region' AND key = coalesce(
         (SELECT entry->>'region' FROM routing_entries WHERE kind = 'account' AND key = $1), $2))
"""

Context = grpc.aio.ServicerContext[object, object]


class NaiveRouter(router_pb2_grpc.RouterServicer):
    def __init__(self, pool: asyncpg.Pool, authorizer: KeyAuthorizer, default_region: str = "us-east") -> None:
        self.pool = pool
        self.authorizer = authorizer
        self.providers = ProviderTable.with_overrides("")
        self.limits = DailyLimits(int(time.time() // SECONDS_PER_DAY))
        self.history = HistoryBuffer(1_000_000)
        self.default_region = default_region

    async def SelectSendingIP(
        self, request: router_pb2.SelectSendingIPRequest, context: Context
    ) -> router_pb2.SelectSendingIPResponse:
        denial = self.authorizer.check(cast(Metadata, context.invocation_metadata()), "route", (request.account_id,))
        if denial is not None:
            await context.abort(*denial)
        try:
            provider = validate.select_provider(request, self.providers)
        except RequestError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(ENTRIES, request.account_id, request.region or self.default_region)
        table = RoutingTable(loaded=True)
        for row in rows:
            compiled = compile_entry(row["kind"], row["entry"], row["version"])
            if isinstance(compiled, CompiledAccount):
                table.accounts[row["key"]] = compiled
            elif isinstance(compiled, CompiledRegion):
                table.regions[row["key"]] = compiled
        engine = Engine(table, self.limits, self.history, default_region=self.default_region)
        try:
            return engine.select(request, provider)
        except NoGeneralPool as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))


async def serve(database_url: str, listen: str, pool_size: int) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=pool_size, max_size=pool_size)
    assert pool is not None
    authorizer = KeyAuthorizer()
    async with pool.acquire() as conn:
        authorizer.replace(await load_active_keys(conn))
    server = grpc.aio.server()
    servicer = NaiveRouter(pool, authorizer)
    router_pb2_grpc.add_RouterServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port(listen)
    await server.start()
    print(f"serving listen={listen.rpartition(':')[0]}:{port}", flush=True)
    try:
        await server.wait_for_termination()
    finally:
        await server.stop(1)
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--pool-size", type=int, default=10)
    args = parser.parse_args()
    uvloop.run(serve(args.database_url, args.listen, args.pool_size))


if __name__ == "__main__":
    main()
