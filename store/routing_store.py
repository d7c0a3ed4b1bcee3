"""Publishing routing entries, and reading them back.

A writer calls ``publish`` inside its own transaction: the entries get fresh versions
from ``routing_clock`` (whose row lock, held until commit, orders the versions as they
become visible) and a NOTIFY on ``ROUTING_CHANNEL`` carrying the highest version goes
out when the transaction commits (PostgreSQL delivers NOTIFY only on commit, so a
rolled-back rebalance is never announced). Routers load ``version > last_seen``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from store import queries
from store.routing_entry import AccountRoute, RegionRoute

ROUTING_CHANNEL = "sendingip_routing"


@dataclass(frozen=True, slots=True)
class StoredEntry:
    kind: str  # "account" or "region"
    key: str  # account id or region
    version: int
    entry: str  # JSON, see store.routing_entry


async def publish(conn: asyncpg.Connection, routes: Sequence[AccountRoute | RegionRoute]) -> int:
    """Write ``routes`` with new versions; returns the highest. Call inside a transaction."""
    if not conn.is_in_transaction():
        raise RuntimeError("routing_store.publish must run inside the caller's transaction")
    if not routes:
        return int(await conn.fetchval(queries.load()["routing_latest_version"]))
    q = queries.load()
    last = int(await conn.fetchval(q["routing_next_versions"], len(routes)))
    first = last - len(routes) + 1
    kinds = ["account" if isinstance(r, AccountRoute) else "region" for r in routes]
    keys = [r.account_id if isinstance(r, AccountRoute) else r.region for r in routes]
    await conn.execute(q["routing_upsert"], kinds, keys, list(range(first, last + 1)), [r.to_json() for r in routes])
    await conn.execute(q["routing_notify"], str(last))
    return last


async def publish_general_pool(conn: asyncpg.Connection, region: str) -> int:
    """Publish the region's general pool as it is in ``ip_addresses`` now."""
    row = await conn.fetchrow(queries.load()["routing_general_pool"], region)
    if row is None:
        raise LookupError(f"region {region!r} has no general pool")
    route = RegionRoute(region=region, pool_id=row["pool_id"], addresses=tuple(row["addresses"] or ()))
    return await publish(conn, [route])


async def entries_since(conn: asyncpg.Connection, version: int) -> list[StoredEntry]:
    rows = await conn.fetch(queries.load()["routing_since"], version)
    return [StoredEntry(r["kind"], r["key"], r["version"], r["entry"]) for r in rows]
