"""`sendingip bench --routers N` (bench/multi_router.py) against real routers, in its quick
form: every figure is made from N real `serve --no-workers` processes on one database, every
router's pick counter agrees with its load generator, and the bulk seed writes the entries the
suite's seed writes (short runs and a small table; the numbers are not judged)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncpg
import pytest

from bench import bulk_seed, seed
from bench.multi_router import MultiOptions, MultiRouterBench, lease_requests
from bench.report import Report
from bench.suite import main as bench_main

pytestmark = [pytest.mark.integration]
needs_h2load = pytest.mark.skipif(not shutil.which("h2load"), reason="needs h2load")

ROUTERS = 3
ACCOUNTS = 400


async def test_bulk_seed_writes_the_entries_of_the_suite_seed(db: asyncpg.Connection, db_url: str) -> None:
    version, _ = await bulk_seed.seed_bulk(db_url, ACCOUNTS)
    assert version == await db.fetchval("SELECT version FROM routing_clock")
    rows = await db.fetch("SELECT kind, key, version, entry FROM routing_entries ORDER BY version")
    assert [r["version"] for r in rows] == list(range(version - ACCOUNTS - 1, version + 1))
    entries = {r["key"]: r["entry"] for r in rows if r["kind"] == "account"}
    assert len(entries) == ACCOUNTS
    # General (templated), Transition and Dedicated entries, byte for byte what seed.account writes.
    for i in (0, 1, 2, 17, 18, 19, 21, 37, ACCOUNTS - 1):
        assert entries[seed.account_id(i)] == seed.account(i).to_json()
    assert {r["key"] for r in rows if r["kind"] == "region"} == set(seed.REGIONS)
    kinds = await db.fetch("SELECT management_type, count(*) AS n FROM accounts GROUP BY 1")
    assert {r["management_type"]: r["n"] for r in kinds} == {"general": 340, "transition": 40, "dedicated": 20}


def test_lease_requests_sums_every_label_set_or_says_there_is_none() -> None:
    assert lease_requests({"sendingip_router_picks_total": 5.0}) is None
    assert lease_requests({"sendingip_lease_requests_total": 3.0}) == 3.0
    found = {'sendingip_lease_requests_total{kind="pair"}': 2.0, 'sendingip_lease_requests_total{kind="ip"}': 4.0}
    assert lease_requests({**found, "sendingip_lease_requests_created": 1e9}) == 6.0


def test_one_router_is_refused_with_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main(["--routers", "1"]) == 2
    assert "--routers must be at least 2" in capsys.readouterr().err


@needs_h2load
@pytest.mark.e2e
@pytest.mark.timeout(180)
async def test_the_mode_reports_every_figure_from_real_routers(db_url: str, tmp_path: Path) -> None:
    options = MultiOptions(
        routers=ROUTERS, accounts=ACCOUNTS, repeats=1, seconds=1.0, notify_updates=5, flush_rows=1_000, quick=True
    )
    report = Report()
    bench = MultiRouterBench(options, report, "h2load")
    try:
        await asyncio.to_thread(bench.run, db_url)
    finally:
        shutil.rmtree(bench.b.tmp, ignore_errors=True)
    assert report.errors == []
    figures = {f.name: f for f in report.figures}
    assert list(figures) == [
        f"Seeding {ACCOUNTS} accounts and their routing entries",
        f"Start: each router loads the {ACCOUNTS}-account table",
        f"Unary picks/s: {ROUTERS} routers side by side vs 1 router (h2load against each)",
        f"Per-router picks/s ({ROUTERS} side by side)",
        f"Lease traffic ({ROUTERS} routers under load)",
        f"NOTIFY propagation to {ROUTERS} routers (5 updates, {ACCOUNTS} entries each)",
        "History flush",
    ]
    start = figures[f"Start: each router loads the {ACCOUNTS}-account table"].data
    assert len(start["load_seconds"]) == ROUTERS and all(0 < s < 60 for s in start["load_seconds"])
    assert all(rss > 10 for rss in start["rss_mib"])
    picks = figures[f"Unary picks/s: {ROUTERS} routers side by side vs 1 router (h2load against each)"].data
    assert picks["one"][0] > 0 and picks["all"][0] > 0 and picks["ratio"] > 0
    assert picks["router_cpu"]["all"] > 0 and picks["picks_per_router_cpu_second"]["all"] > 0
    per_router = figures[f"Per-router picks/s ({ROUTERS} side by side)"].data["per_router"]
    assert sorted(per_router) == list(range(1, ROUTERS + 1)) and all(v > 0 for v in per_router.values())
    lease = figures[f"Lease traffic ({ROUTERS} routers under load)"]
    assert lease.value == "n/a (not built)" or "lease requests/s" in lease.value
    propagation = figures[f"NOTIFY propagation to {ROUTERS} routers (5 updates, {ACCOUNTS} entries each)"]
    assert len(propagation.data["seconds"]) == 5 and propagation.met is True
    assert all(router.server.proc.poll() is not None for router in bench.routers)
