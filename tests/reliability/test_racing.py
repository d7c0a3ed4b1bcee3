"""Two rebalancers and two routers racing (issue 8, fault 4): simulated days of
rebalances (``--as-of`` days, two runs of each racing without the run lock) while
picks flow through two routers. No IP ever serves two accounts, versions only
increase, and both routers converge to the latest version."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import pytest
from grpc_health.v1 import health_pb2

from store.database import create_pool
from tests.reliability.load import Picker
from tests.support.processes import ServerProcess, create_key, health_status, sendingip_env, wait_for
from tests.support.routing import GENERAL_IPS, seed_region
from workers.rebalance.run import rebalance

pytestmark = pytest.mark.e2e
D0 = date(2026, 3, 1)
ACCOUNTS = [f"acct-{i:03d}" for i in range(40)]
INVENTORY = 25  # fewer than the accounts that will want one: the racers compete for them


async def _history(db: asyncpg.Connection, day: date, n_day: int) -> None:
    """Account i sends 3,000 + i×n_day×40 a day: more accounts cross the threshold each day."""
    rows = [
        (day, account, provider, (3000 + i * n_day * 40) // 2)
        for i, account in enumerate(ACCOUNTS)
        for provider in ("google", "microsoft")
    ]
    await db.executemany(
        "INSERT INTO daily_history (day, account_id, mailbox_provider, imported) VALUES ($1, $2, $3, $4)", rows
    )


@pytest.mark.parametrize("days", [pytest.param(12, id="short"), pytest.param(60, id="60-days", marks=pytest.mark.soak)])
async def test_racing_rebalancers_and_routers_keep_ips_exclusive_and_versions_rising(
    db: asyncpg.Connection, db_url: str, tmp_path: Path, days: int
) -> None:
    await seed_region(db)
    await db.executemany(
        "INSERT INTO ip_addresses (address, region, state) VALUES ($1::inet, 'us-east', 'inventory')",
        [(f"10.1.0.{i}",) for i in range(1, INVENTORY + 1)],
    )
    await db.executemany("INSERT INTO accounts (account_id, region) VALUES ($1, 'us-east')", [(a,) for a in ACCOUNTS])
    for back in range(30, 0, -1):
        await _history(db, D0 - timedelta(days=back), 30 - back)

    key = create_key(db_url, "route")  # made first: no router prints a bootstrap key
    routers = [
        ServerProcess(
            sendingip_env(
                db_url,
                SENDINGIP_DATA_DIR=str(tmp_path / f"r{i}"),
                SENDINGIP_METRICS_LISTEN="127.0.0.1:0",
                SENDINGIP_ROUTING_POLL_INTERVAL="1",
                SENDINGIP_ROUTER_ID=f"router-{i}",
            ),
            ["--no-workers"],
        )
        for i in range(2)
    ]
    pools = [await create_pool(db_url, size=4) for _ in range(2)]
    try:
        for r in routers:
            wait_for(lambda r=r: health_status(r.target) == health_pb2.HealthCheckResponse.SERVING)
        pickers = [
            Picker(r.target, key, accounts=ACCOUNTS, mode="batch", batch=40, pace=0.01, name=f"p{i}")
            for i, r in enumerate(routers)
        ]
        for p in pickers:
            p.__enter__()
        latest = []
        try:
            for n in range(days):
                day = D0 + timedelta(days=n)
                # Two rebalancers decide the same day at once (no run lock between them).
                reports = await asyncio.gather(*(rebalance(pool, day) for pool in pools))
                assert all(r.failed == 0 for r in reports), [r.summary() for r in reports]
                await _history(db, day, 30 + n)
                latest.append(await db.fetchval("SELECT coalesce(max(version), 0) FROM routing_entries"))
                for p in pickers:
                    p.wait_picks(40)
        finally:
            for p in pickers:
                p.stop()
        _assert_versions_rise_and_ips_stay_exclusive(pickers, latest)
        in_pools = await db.fetch(
            "SELECT host(address) AS ip, pool_id FROM ip_addresses WHERE state IN ('dedicated', 'draining')"
        )
        assert len({r["ip"] for r in in_pools}) == len(in_pools) > 0
        assert await db.fetchval("SELECT count(*) FROM accounts WHERE management_type <> 'general'") >= INVENTORY // 2
        # Both routers converge to the latest version.
        final = await db.fetchval("SELECT max(version) FROM routing_entries")
        for r in routers:
            wait_for(lambda r=r: r.metric("sendingip_routing_version") == final, timeout=15)
    finally:
        for pool in pools:
            await pool.close()
        for r in routers:
            r.stop()
    for r in routers:
        assert "Traceback" not in r.output, r.output


def _assert_versions_rise_and_ips_stay_exclusive(pickers: list[Picker], latest: list[int]) -> None:
    assert [p.failures for p in pickers] == [[], []]
    assert latest == sorted(latest) and latest[-1] > latest[0]
    # Versions only increase as each router sees them, per account.
    for p in pickers:
        for account, versions in p.versions.items():
            assert versions == sorted(versions), (p.name, account)
    # No IP served two accounts' dedicated traffic (the general pool serves everyone).
    served: dict[str, set[str]] = {}
    for p in pickers:
        for account, ip, _ in p.counts:
            if ip not in GENERAL_IPS:
                served.setdefault(ip, set()).add(account)
    assert served and all(len(accounts) == 1 for accounts in served.values()), served
