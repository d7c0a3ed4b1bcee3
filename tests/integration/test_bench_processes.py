"""The benchmark's `serve --processes 2` stage against real routers: both figures are made,
every answer the load generators count is a pick the routers counted (through the cluster's
summed metrics endpoint), and nothing fails (short runs; the numbers are not judged)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from bench import seed, stack
from bench.processes import ProcessesBench
from bench.report import Report
from bench.suite import Bench, Options

pytestmark = [
    pytest.mark.integration,
    pytest.mark.e2e,
    pytest.mark.skipif(not all(shutil.which(tool) for tool in ("wrk", "h2load")), reason="needs wrk and h2load"),
    pytest.mark.timeout(120),
]


async def test_processes_stage_compares_two_processes_with_one(db_url: str, tmp_path: Path) -> None:
    await seed.seed(db_url, 200)
    report = Report()
    bench = Bench(Options(repeats=1, seconds=1, accounts=200), report)
    bench.h2load, bench.wrk = "h2load", "wrk"
    bench.env = stack.sendingip_env(db_url, tmp_path / "data")
    bench.key = await asyncio.to_thread(stack.create_key, bench.env)
    router = await asyncio.to_thread(stack.start_router, bench.env, cpus=bench.server_cpu)
    try:
        await asyncio.to_thread(ProcessesBench(bench, router).run)
    finally:
        await asyncio.to_thread(router.stop)
    assert report.errors == []
    assert [f.name for f in report.figures] == [
        "gRPC unary (h2load): serve --processes 2 --pin-cpus vs one process",
        "HTTP/JSON door (wrk): serve --processes 2 --pin-cpus vs one process",
    ]
    for figure in report.figures:
        assert figure.target == "≥ 1.8×"
        for name in ("one", "two", "pinned"):
            assert figure.data[name][0] > 0 and figure.data[f"{name}_cpu"][0] > 0
            assert figure.data["picks_per_server_cpu_second"][name] > 0
        assert figure.data["ratio"] == figure.data["pinned"][0] / figure.data["one"][0]
