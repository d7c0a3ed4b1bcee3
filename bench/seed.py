"""A realistic routing table for the benchmarks, written with ``routing_store.publish``.

Two regions with a general pool of 16 IPs each; N accounts spread over them: 85% General
(entries without dedicated routes), 10% Transition (a 1-3 IP dedicated pool warming up,
every (IP, provider) pair with a daily limit and a partial dedicated share) and 5%
Dedicated (a 2-4 IP pool, warm). The entries are what the rebalancer writes; the
accounts and regions rows exist too, so history flushes and the naive baseline see the
database a real deployment has.

    python -m bench.seed --publish URL --accounts N   # re-publish every entry (a full reload)
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from store import routing_store
from store.database import connect
from store.routing_entry import AccountRoute, DedicatedIP, ProviderRoute, RegionRoute

REGIONS = ("us-east", "eu-west")
PROVIDERS = ("google", "microsoft", "yahoo", "apple", "other")
#: Share of each provider in the simulated traffic.
PROVIDER_MIX = {"google": 45, "microsoft": 25, "yahoo": 12, "apple": 8, "other": 10}


def account_id(i: int) -> str:
    return f"acct-{i:06d}"


def region_of(i: int) -> str:
    return REGIONS[i % len(REGIONS)]


def kind_of(i: int) -> str:
    """general for 85 of 100 accounts, transition for 10, dedicated for 5 (interleaved)."""
    r = i % 20
    if r < 17:
        return "general"
    return "transition" if r < 19 else "dedicated"


def general_pool(region: str) -> RegionRoute:
    octet = REGIONS.index(region)
    return RegionRoute(region, f"general:{region}", tuple(f"192.0.{octet}.{j}" for j in range(1, 17)))


def account(i: int, tag: int = 0) -> AccountRoute:
    """Account ``i``'s entry; ``tag`` changes the limits so a re-publish is a real change."""
    kind = kind_of(i)
    aid, region = account_id(i), region_of(i)
    day = datetime.now(UTC).date()
    if kind == "general":
        return AccountRoute(aid, region, "general", day, None, {})
    n_ips = 1 + i % 3 if kind == "transition" else 2 + i % 3
    addresses = [f"10.{(i >> 8) & 255}.{i & 255}.{j + 1}" for j in range(n_ips)]
    providers: dict[str, ProviderRoute] = {}
    for k, provider in enumerate(PROVIDERS):
        if kind == "transition":
            stage_limit = (200, 500, 1000, 2000, 5000, 10000)[(i + k) % 6] + tag
            share = min(1.0, 0.1 + 0.15 * ((i + k) % 6))
            ips = tuple(DedicatedIP(a, 1 / n_ips, stage_limit) for a in addresses)
        else:
            share = 1.0
            ips = tuple(DedicatedIP(a, 1 / n_ips, None) for a in addresses)
        providers[provider] = ProviderRoute(share, ips)
    return AccountRoute(aid, region, kind, day, f"dedicated:{aid}", providers)  # type: ignore[arg-type]


async def seed(url: str, accounts: int) -> int:
    """Regions, accounts and every routing entry; returns the highest version."""
    async with connect(url) as conn, conn.transaction():
        await conn.executemany(
            "INSERT INTO regions (region) VALUES ($1) ON CONFLICT DO NOTHING", [(r,) for r in REGIONS]
        )
        await conn.execute(
            """INSERT INTO accounts (account_id, region, management_type, transition_started_on, dedicated_on)
               SELECT a, r, t, CASE WHEN t <> 'general' THEN current_date - 10 END,
                      CASE WHEN t = 'dedicated' THEN current_date - 1 END
               FROM unnest($1::text[], $2::text[], $3::text[]) AS u (a, r, t)
               ON CONFLICT DO NOTHING""",
            [account_id(i) for i in range(accounts)],
            [region_of(i) for i in range(accounts)],
            [kind_of(i) for i in range(accounts)],
        )
        routes: list[AccountRoute | RegionRoute] = [general_pool(r) for r in REGIONS]
        routes += [account(i) for i in range(accounts)]
        return await routing_store.publish(conn, routes)


async def publish(url: str, indexes: list[int], tag: int) -> int:
    """Re-publish the entries of ``indexes`` in one transaction; returns the highest version."""
    async with connect(url) as conn, conn.transaction():
        return await routing_store.publish(conn, [account(i, tag) for i in indexes])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publish", metavar="URL", required=True)
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--tag", type=int, default=1)
    args = parser.parse_args()
    print(asyncio.run(publish(args.publish, list(range(args.accounts)), args.tag)))


if __name__ == "__main__":
    main()
