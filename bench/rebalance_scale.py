"""Rebalance at scale: N accounts with 30 days of history (about 30·N rows), timed by phase,
with the query plan of the window aggregation and the process's peak memory.

    python -m bench.rebalance_scale --accounts 100000
    python -m bench.rebalance_scale --accounts 1000000 --first-only   # what `make bench` runs, once

Beside a git revision's rebalancer, on copies of one seeded database: bench/rebalance_compare.py.

Uses SENDINGIP_DATABASE_URL's server when set, else an embedded PostgreSQL in a temporary
folder; either way it works in a database of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from store import queries
from store.database import connect, create_pool, with_database
from store.embedded import EmbeddedPostgres
from store.migrate import apply_migrations
from workers.rebalance import partitions
from workers.rebalance.run import CHUNK_ACCOUNTS, rebalance

DAY = date(2026, 6, 1)

SEED = """
INSERT INTO regions (region) VALUES ('us-east');
INSERT INTO pools (pool_id, region, pool_type) VALUES ('general:us-east', 'us-east', 'general');
INSERT INTO ip_addresses (address, region, state, pool_id)
  SELECT ('10.0.' || (i / 250) || '.' || (i % 250 + 1))::inet, 'us-east', 'general', 'general:us-east'
  FROM generate_series(0, 49) i;
INSERT INTO ip_addresses (address, region, state)
  SELECT ('10.1.' || (i / 250) || '.' || (i % 250 + 1))::inet, 'us-east', 'inventory'
  FROM generate_series(0, $INVENTORY - 1) i;
INSERT INTO accounts (account_id, region)
  SELECT 'acct-' || lpad(i::text, 6, '0'), 'us-east' FROM generate_series(0, $ACCOUNTS - 1) i;
-- 30 days × 1 provider per account and day (providers rotate); 1 in 50 accounts sends
-- enough for a dedicated pool, the rest 200–5,000 a day.
INSERT INTO daily_history (day, account_id, ip, mailbox_provider, imported)
  SELECT DATE '$DAY' - d, 'acct-' || lpad(i::text, 6, '0'), '',
         (ARRAY['google', 'microsoft', 'yahoo', 'apple', 'other'])[1 + (i + d) % 5],
         CASE WHEN i % 50 = 0 THEN 40000 ELSE 200 + (i::bigint * 7919) % 4800 END
  FROM generate_series(0, $ACCOUNTS - 1) i, generate_series(1, 30) d;
ANALYZE;
"""


async def run(server_url: str, accounts: int, inventory: int, *, first_only: bool = False) -> dict[str, Any]:
    """Seed, then rebalance day D, again day D, and day D+1; ``first_only``: day D once, no plan."""
    name = f"sip_bench_{uuid.uuid4().hex[:8]}"
    async with connect(server_url) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    try:
        async with connect(url) as conn:
            seed_seconds, rows = await seed(conn, accounts, inventory)
            if first_only:
                plan_rows = []
            else:
                async with conn.transaction():
                    await conn.execute(queries.load()["worker_window_work_mem"])
                    plan_rows = await conn.fetch(
                        "EXPLAIN (ANALYZE, BUFFERS) " + queries.load()["worker_history_window"],
                        "",
                        f"acct-{min(accounts, CHUNK_ACCOUNTS) - 1:06d}",  # the first chunk
                        DAY - timedelta(days=30),
                        DAY,
                    )
        pool = await create_pool(url, size=5)  # as `sendingip worker`: 4 applying, 1 reading
        try:
            first = await rebalance(pool, DAY)
            if first_only:
                return {
                    "accounts": accounts,
                    "history_rows": rows,
                    "seed_seconds": round(seed_seconds, 1),
                    "first_run": _report(first),
                }
            second = await rebalance(pool, DAY)
            third = await rebalance(pool, DAY + timedelta(days=1))
        finally:
            await pool.close()
        return {
            "accounts": accounts,
            "history_rows": rows,
            "seed_seconds": round(seed_seconds, 1),
            "first_run": _report(first),
            "same_day_rerun": _report(second),
            "next_day": _report(third),
            "window_plan": [r[0] for r in plan_rows],
        }
    finally:
        async with connect(server_url) as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def seed(conn: asyncpg.Connection, accounts: int, inventory: int) -> tuple[float, int]:
    """Migrate an empty database and seed it; returns the seconds it took and the history rows."""
    await apply_migrations(conn)
    t = time.perf_counter()
    # The day partitions exist before the history is written, as they do in service
    # (each run creates the days ahead): the seed does not land in DEFAULT.
    await conn.execute(
        "SELECT history_partition_ensure(t, d::date) FROM unnest(ARRAY['daily_history', 'daily_outcomes']) t, "
        "generate_series($1::date, $2::date, interval '1 day') d",
        DAY - timedelta(days=37),
        DAY + timedelta(days=partitions.AHEAD_DAYS + 1),
    )
    sql = (
        SEED.replace("$ACCOUNTS", str(accounts)).replace("$INVENTORY", str(inventory)).replace("$DAY", DAY.isoformat())
    )
    await conn.execute(sql)
    return time.perf_counter() - t, int(await conn.fetchval("SELECT count(*) FROM daily_history"))


def _report(report: Any) -> dict[str, Any]:
    return {
        "seconds": round(report.seconds, 2),
        "applied": report.applied,
        "unchanged": report.unchanged,
        "assigned": report.ips_assigned,
        "routes": report.routes_published,
        "phases": {k: round(v, 2) for k, v in report.phases.items()},
        "peak_rss_mib": _peak_rss_mib(),
    }


def _peak_rss_mib() -> int:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--inventory", type=int, default=5_000)
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument(
        "--first-only", action="store_true", help="one run for day D (the `make bench` figure), no rerun, no plan"
    )
    args = parser.parse_args()
    url = os.environ.get("SENDINGIP_DATABASE_URL")
    embedded = None
    with tempfile.TemporaryDirectory(prefix="sip-bench-") as tmp:
        if not url:
            embedded = EmbeddedPostgres(Path(tmp) / "pg")
            url = embedded.start()
        try:
            result = asyncio.run(run(url, args.accounts, args.inventory, first_only=args.first_only))
        finally:
            if embedded is not None:
                embedded.stop()
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
