"""The benchmark's door stage against a real `sendingip serve` with every door open: each
door answers what gRPC answers, every answer the load generators count is a pick the
router counted, and the table gets its door rows (short runs; the numbers are not judged)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from bench import seed, stack
from bench.doorbench import DoorBench
from bench.report import Report
from bench.suite import Bench, Options

pytestmark = [
    pytest.mark.integration,
    pytest.mark.e2e,
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("wrk", "h2load", "cc")), reason="needs wrk, h2load and cc"
    ),
    pytest.mark.timeout(180),
]


async def test_door_stage_measures_every_door_against_grpc(db_url: str, tmp_path: Path) -> None:
    await seed.seed(db_url, 200)
    report = Report()
    bench = Bench(Options(repeats=1, seconds=1, accounts=200), report)
    bench.h2load, bench.wrk = "h2load", "wrk"
    bench.env = stack.sendingip_env(db_url, tmp_path / "data")
    bench.key = await asyncio.to_thread(stack.create_key, bench.env)
    env = {
        **bench.env,
        "SENDINGIP_LINE_LISTEN": "127.0.0.1:0",
        "SENDINGIP_POSTFIX_LISTEN": "127.0.0.1:0",
        "SENDINGIP_ADAPTER_KEY": bench.key,
    }
    router = await asyncio.to_thread(stack.start_router, env, cpus=bench.server_cpu)
    try:
        await asyncio.to_thread(DoorBench(bench, router, warm_up=0.2).run)
    finally:
        await asyncio.to_thread(router.stop)
    # No disagreement with gRPC, no refusal, no miscount, nothing unanswered.
    assert report.errors == []
    names = [f.name for f in report.figures]
    assert names[0] == "HTTP/JSON door vs gRPC unary, picks/s per core"
    assert sum("latency at" in n for n in names) == 3 and len(names) == 7
    for figure in report.figures:
        assert "NOT verified" not in figure.note
        if "picks/s per core" in figure.name:
            assert min(figure.data["picks_per_second"]) > 0 and figure.data["grpc_unary"][0] > 0
        if "latency at" in figure.name:
            assert figure.data["runs"][0]["n"] > 0
    assert report.figures[2].data["pipelined"][0] > 0  # the line door's pipelined ceiling
