"""Routing rows as the workers and Management write them, for the router's tests.

A region with its general pool (rows in regions/pools/ip_addresses, published as a
RegionRoute), and account entries published as the rebalancer publishes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg

from store import routing_store
from store.routing_entry import AccountRoute, DedicatedIP, ManagementType, ProviderRoute

GENERAL_IPS = ("192.0.2.1", "192.0.2.2", "192.0.2.3")
DEDICATED_IPS = ("198.51.100.1", "198.51.100.2")


async def seed_region(
    conn: asyncpg.Connection,
    region: str = "us-east",
    addresses: Sequence[str] = GENERAL_IPS,
    *,
    inventory: Sequence[str] = (),
    publish: bool = True,
) -> int:
    """A region whose general pool (``general:<region>``, as Management names it) holds
    ``addresses``, with ``inventory`` unassigned; returns the version of its published
    route, or 0 when not ``publish``-ed (the rebalancer's tests publish nothing before it)."""
    pool_id = f"general:{region}"
    async with conn.transaction():
        await conn.execute("INSERT INTO regions (region) VALUES ($1) ON CONFLICT DO NOTHING", region)
        await conn.execute(
            "INSERT INTO pools (pool_id, region, pool_type) VALUES ($1, $2, 'general') ON CONFLICT DO NOTHING",
            pool_id,
            region,
        )
        await conn.executemany(
            "INSERT INTO ip_addresses (address, region, state, pool_id) VALUES ($1::inet, $2, 'general', $3)",
            [(a, region, pool_id) for a in addresses],
        )
        await conn.executemany(
            "INSERT INTO ip_addresses (address, region, state) VALUES ($1::inet, $2, 'inventory')",
            [(a, region) for a in inventory],
        )
        return await routing_store.publish_general_pool(conn, region) if publish else 0


def account_route(
    account_id: str,
    *,
    management_type: ManagementType = "transition",
    share: float = 0.5,
    limits: tuple[int | None, ...] = (None, None),
    weights: tuple[float, ...] = (0.5, 0.5),
    region: str = "us-east",
    day: date | None = None,
) -> AccountRoute:
    """An account whose dedicated pool has ``DEDICATED_IPS`` (same split for every provider)."""
    route = ProviderRoute(
        dedicated_share=share,
        ips=tuple(DedicatedIP(a, w, lim) for a, w, lim in zip(DEDICATED_IPS, weights, limits, strict=False)),
    )
    return AccountRoute(
        account_id=account_id,
        region=region,
        management_type=management_type,
        day=day or date.today(),
        pool_id=f"dedicated-{account_id}",
        providers={p: route for p in ("google", "microsoft", "yahoo", "apple", "other")},
    )


async def publish(conn: asyncpg.Connection, *routes: AccountRoute) -> int:
    async with conn.transaction():
        return await routing_store.publish(conn, list(routes))


async def seed_acme(conn: asyncpg.Connection) -> int:
    """The usual routing table: ``us-east`` with ``GENERAL_IPS``, and ``acme`` sending half
    its mail from ``DEDICATED_IPS``; returns the version."""
    await seed_region(conn)
    return await publish(conn, account_route("acme", share=0.5))
