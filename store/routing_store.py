"""Publishing routing entries (the routers read them back: ``server/router/loader.py``).

A writer calls ``publish`` inside its own transaction: the entries get fresh versions
from ``routing_clock`` (whose row lock, held until commit, orders the versions as they
become visible) and a NOTIFY on ``ROUTING_CHANNEL`` carrying the highest version goes
out when the transaction commits (PostgreSQL delivers NOTIFY only on commit, so a
rolled-back rebalance is never announced). Routers load ``version > last_seen``.

Every account has an entry (SPEC §3 v2: a known account is routed in its own region,
whatever the request says). Management's CreateAccount and the history flush of a router
that creates an account it saw first publish a General one in the creating transaction
(``publish_general_accounts``: a no-op for an account that has an entry); each rebalance
publishes one for any account still without, such as those it creates from imported
history (``publish_absent``). Neither ever replaces an entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import asyncpg

from store import queries
from store.general_pool import general_weights
from store.routing_entry import AccountRoute, RegionRoute

ROUTING_CHANNEL = "sendingip_routing"


async def publish(conn: asyncpg.Connection, routes: Sequence[AccountRoute | RegionRoute]) -> int:
    """Write ``routes`` with new versions; returns the highest. Call inside a transaction."""
    return await _write(conn, routes, "routing_upsert")


async def publish_absent(conn: asyncpg.Connection, routes: Sequence[AccountRoute]) -> int:
    """``publish`` each route whose account has no entry yet; one that has keeps it (a
    rebalancer's or another writer's, never replaced). Call inside a transaction."""
    return await _write(conn, routes, "routing_insert_absent")


async def publish_general_accounts(conn: asyncpg.Connection, account_ids: Iterable[str], day: date) -> int:
    """A General entry (no pool, no routes: the general pool of the account's own region)
    for each of ``account_ids`` that exists without an entry; returns how many. Call
    inside the transaction that created them."""
    rows = await conn.fetch(queries.load()["routing_accounts_without_entry"], list(account_ids))
    routes = [AccountRoute(r["account_id"], r["region"], "general", day, None) for r in rows]
    if routes:
        await publish_absent(conn, routes)
    return len(routes)


async def _write(conn: asyncpg.Connection, routes: Sequence[AccountRoute | RegionRoute], query: str) -> int:
    if not conn.is_in_transaction():
        raise RuntimeError("routing_store.publish must run inside the caller's transaction")
    if not routes:
        return int(await conn.fetchval(queries.load()["routing_latest_version"]))
    q = queries.load()
    # The clock's row lock comes first, before any entry is written: writers queue on it,
    # so two of them never wait for each other's entries.
    last = int(await conn.fetchval(q["routing_next_versions"], len(routes)))
    first = last - len(routes) + 1
    kinds = ["account" if isinstance(r, AccountRoute) else "region" for r in routes]
    keys = [r.account_id if isinstance(r, AccountRoute) else r.region for r in routes]
    await conn.execute(q[query], kinds, keys, list(range(first, last + 1)), [r.to_json() for r in routes])
    await conn.execute(q["routing_notify"], str(last))
    return last


async def publish_general_pool(conn: asyncpg.Connection, region: str, *, only_if_changed: bool = False) -> int:
    """Publish the region's general pool as it is in ``ip_addresses`` now, each IP weighted
    by its ramp-in stage (SPEC rule 12, ``store.general_pool``). With ``only_if_changed``
    (the rebalancer's daily run), an entry equal to the one published is not written again:
    returns 0 then."""
    row = await conn.fetchrow(queries.load()["routing_general_pool"], region)
    if row is None:
        raise LookupError(f"region {region!r} has no general pool")
    stages = list(row["stages"] or ())
    schedule = list(row["schedule"] or ())
    route = RegionRoute(
        region=region,
        pool_id=row["pool_id"],
        addresses=tuple(row["addresses"] or ()),
        weights=general_weights(stages, schedule, row["rules"] or "v2"),
    )
    if only_if_changed and row["published"] is not None and RegionRoute.from_json(row["published"]) == route:
        return 0
    return await publish(conn, [route])


async def publish_general_pools(conn: asyncpg.Connection) -> int:
    """``publish_general_pool(only_if_changed=True)`` for every region; returns how many
    were written. Call inside a transaction."""
    written = 0
    for r in await conn.fetch(queries.load()["routing_general_regions"]):
        written += 1 if await publish_general_pool(conn, r["region"], only_if_changed=True) else 0
    return written
