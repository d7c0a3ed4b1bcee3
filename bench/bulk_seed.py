"""bench/seed.py's routing table at a million accounts, written with COPY.

``seed.seed`` publishes every entry through ``routing_store.publish`` (an ``unnest`` of
Python lists): right for 10,000 accounts, minutes at 1,000,000. Here the same accounts
and entries (the same 85/10/5 mix, the same JSON, so a router compiles exactly what the
rebalancer would have written) go in by ``COPY``: the accounts first, then the entries
with versions taken from ``routing_clock`` in the same transaction (its row lock orders
them as ``publish`` does), and one NOTIFY at commit. General entries, 85% of them, are
one template per region with the account id swapped in, not built one by one.

    python -m bench.bulk_seed URL --accounts 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from bench import seed
from store import queries
from store.database import connect
from store.routing_store import ROUTING_CHANNEL


def _entries(accounts: int) -> Iterator[tuple[str, str]]:
    """(account id, entry JSON) of every account, as ``seed.account`` writes it."""
    templates: dict[str, tuple[str, str]] = {}
    for i in range(accounts):
        if seed.kind_of(i) != "general":
            yield seed.account_id(i), seed.account(i).to_json()
            continue
        region = seed.region_of(i)
        if region not in templates:
            templates[region] = (seed.account_id(i), seed.account(i).to_json())
        model_id, model = templates[region]
        yield seed.account_id(i), model.replace(f'"{model_id}"', f'"{seed.account_id(i)}"', 1)


async def seed_bulk(url: str, accounts: int) -> tuple[int, float]:
    """Regions, general pools, ``accounts`` accounts and their entries; returns the highest
    routing version and the seconds it took."""
    started = time.perf_counter()
    today = datetime.now(UTC).date()
    began = {"general": None, "transition": today - timedelta(days=10), "dedicated": today - timedelta(days=10)}
    dedicated_on = {"general": None, "transition": None, "dedicated": today - timedelta(days=1)}
    kinds = [seed.kind_of(i) for i in range(accounts)]
    account_rows = [
        (seed.account_id(i), seed.region_of(i), kind, began[kind], dedicated_on[kind]) for i, kind in enumerate(kinds)
    ]
    async with connect(url) as conn, conn.transaction():
        await conn.executemany(
            "INSERT INTO regions (region) VALUES ($1) ON CONFLICT DO NOTHING", [(r,) for r in seed.REGIONS]
        )
        await conn.copy_records_to_table(
            "accounts",
            records=account_rows,
            columns=["account_id", "region", "management_type", "transition_started_on", "dedicated_on"],
        )
        del account_rows
        regions = [seed.general_pool(r) for r in seed.REGIONS]
        last = int(await conn.fetchval(queries.load()["routing_next_versions"], len(regions) + accounts))
        version = last - len(regions) - accounts
        rows: list[tuple[str, str, int, str]] = []
        for route in regions:
            version += 1
            rows.append(("region", route.region, version, route.to_json()))
        for key, entry in _entries(accounts):
            version += 1
            rows.append(("account", key, version, entry))
        await conn.copy_records_to_table("routing_entries", records=rows, columns=["kind", "key", "version", "entry"])
        await conn.execute("SELECT pg_notify($1, $2)", ROUTING_CHANNEL, str(last))
    async with connect(url) as conn:
        await conn.execute("ANALYZE accounts, routing_entries")
    return last, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--accounts", type=int, required=True)
    args = parser.parse_args()
    version, seconds = asyncio.run(seed_bulk(args.url, args.accounts))
    print(f"{args.accounts} accounts, version {version}, {seconds:.1f} s")


if __name__ == "__main__":
    main()
