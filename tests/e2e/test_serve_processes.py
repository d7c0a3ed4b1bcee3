"""`sendingip serve --processes 2`: two routers on one port, as an operator runs them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from pathlib import Path

import asyncpg
import grpc
import pytest

from sendingip.v1 import router_pb2, router_pb2_grpc
from tests.support.databases import DatabaseFactory
from tests.support.history import history
from tests.support.processes import SENDINGIP, ServerProcess, create_key, sendingip_env, wait_for
from tests.support.requests import bearer, pick_request
from tests.support.routing import seed_acme

pytestmark = pytest.mark.e2e

_MEMBER_METRICS = re.compile(r"member-(\d+) server\.router\.metrics metrics listen=\S+:(\d+)")
_MEMBER_SERVING = re.compile(r"cluster member=(\d+) pid=(\d+) router_id=(\S+) serving metrics_port=\d+ cpu=(\d+)")


def _cluster(url: str, data_dir: Path, *args: str, **extra: str) -> ServerProcess:
    """`serve --processes 2 [args]`, every port 0, once both members serve."""
    env = sendingip_env(
        url,
        SENDINGIP_DATA_DIR=str(data_dir),
        SENDINGIP_METRICS_LISTEN="127.0.0.1:0",
        SENDINGIP_HEARTBEAT_INTERVAL="0.5",
        **extra,
    )
    server = ServerProcess(env, ["--no-workers", "--processes", "2", *args])
    try:
        server.wait_line(r"cluster serving listen=")
    except BaseException:
        server.stop()
        raise
    return server


def _picks(
    target: str, key: str, first: int, connections: int = 24, each: int = 10
) -> list[router_pb2.SelectSendingIPResponse]:
    """Picks over ``connections`` connections of their own, as many MTAs make them: the
    kernel spreads connections, not calls, among the members."""
    answers = []
    for c in range(connections):
        with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
            for i in range(each):
                request = pick_request(f"<{first + c * each + i}@mta>", "acme", "outlook.com")
                answers.append(stub.SelectSendingIP(request, timeout=5, metadata=bearer(key)))
    return answers


def _picks_metric(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(m[1]) for m in re.finditer(r"^sendingip_router_picks_total\{[^}]*\} (\S+)$", text, re.MULTILINE))


async def _until_history(db: asyncpg.Connection, picks: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while sum((await history(db)).values()) != picks:
        assert time.monotonic() < deadline, f"history never reached {picks} picks"
        await asyncio.sleep(0.1)


def _stranger(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = sendingip_env(url, SENDINGIP_METRICS_LISTEN="0", SENDINGIP_HTTP_LISTEN="0")
    return subprocess.run(
        [SENDINGIP, "serve", "--no-workers", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_two_processes_share_the_port_sum_their_metrics_and_flush_all_history_on_sigterm(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await databases.create()
    db = await asyncpg.connect(url)
    key = create_key(url, "route")
    # Flushes would come once a minute: only each member's final flush can write these picks.
    server = _cluster(url, tmp_path, SENDINGIP_HISTORY_FLUSH_INTERVAL="60")
    try:
        await seed_acme(db)
        port = server.wait_listening()
        wait_for(lambda: (server.metric("sendingip_routing_version") or 0) >= 1, timeout=10)
        answers = _picks(server.target, key, 0)

        # Both members answered picks; the parent's endpoint is their sum.
        members = {int(m[1]): int(m[2]) for m in _MEMBER_METRICS.finditer(server.output)}
        assert sorted(members) == [1, 2], server.output
        per_member = [_picks_metric(p) for p in members.values()]
        assert all(n > 0 for n in per_member) and sum(per_member) == len(answers), per_member
        assert server.metric("sendingip_router_picks_total") is None  # labelled; summed below
        assert _picks_metric(server.wait_metrics_port()) == len(answers)
        assert server.metric("sendingip_cluster_processes_answering") == 2

        # A stranger on the cluster's ports still fails: a plain serve, a second cluster, a plain socket.
        alone = _stranger(url, "--listen", f"127.0.0.1:{port}")
        assert alone.returncode == 2, alone.stderr
        assert f"error: the gRPC server cannot listen on 127.0.0.1:{port}: address already in use" in alone.stderr
        other = _stranger(url, "--listen", f"127.0.0.1:{port}", "--processes", "2")
        assert other.returncode == 2, other.stderr
        assert f"error: the gRPC server cannot listen on 127.0.0.1:{port}: address already in use" in other.stderr
        http_port = int(re.findall(r"http listen=\S+:(\d+)", server.output)[0])
        with socket.socket() as plain, pytest.raises(OSError):
            plain.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            plain.bind(("127.0.0.1", http_port))
        answers += _picks(server.target, key, 10_000, connections=2, each=5)  # still answering

        server.signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, server.output
        assert await history(db) == Counter(("acme", a.ip, "microsoft") for a in answers)
        flushed = await db.fetch("SELECT router_id, sum(rows)::int AS n FROM history_flushes GROUP BY router_id")
        ids = {r["router_id"] for r in flushed}
        assert len(ids) == 2 and all(r["n"] > 0 for r in flushed), flushed
        assert await db.fetchval("SELECT count(*) FROM router_heartbeats") == 0
    finally:
        server.stop()
        await db.close()
    assert "Traceback" not in server.output, server.output
    assert "cluster stopped exit_codes={1: 0, 2: 0}" in server.output


def _cpus(pid: int) -> set[int]:
    """The CPUs every thread of ``pid`` may run on (a thread that ends meanwhile is skipped)."""
    cpus: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError, FileNotFoundError):
            cpus |= os.sched_getaffinity(int(task.name))
    return cpus


async def test_a_member_killed_is_restarted_under_its_router_id_and_cpu_and_counters_keep_growing(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await databases.create()
    db = await asyncpg.connect(url)
    key = create_key(url, "route")
    allowed = sorted(os.sched_getaffinity(0))
    server = _cluster(url, tmp_path, "--pin-cpus", SENDINGIP_HISTORY_FLUSH_INTERVAL="0.2")
    try:
        await seed_acme(db)
        wait_for(lambda: (server.metric("sendingip_routing_version") or 0) >= 1, timeout=10)
        before = _picks(server.target, key, 0, connections=8, each=5)
        metrics = server.wait_metrics_port()
        wait_for(lambda: _picks_metric(metrics) == len(before))
        await _until_history(db, len(before))  # a SIGKILL loses what is not flushed yet
        first = {int(m[1]): (int(m[2]), m[3]) for m in _MEMBER_SERVING.finditer(server.output)}
        # --pin-cpus: member i on the i-th CPU this test may use, every thread of it.
        assert [_cpus(first[i][0]) for i in (1, 2)] == [{allowed[0]}, {allowed[1 % len(allowed)]}], server.output
        pid, router_id = first[1]
        mark = len(server.lines)
        subprocess.run(["kill", "-KILL", str(pid)], check=True)
        server.wait_line(
            rf"cluster member=1 pid={pid} router_id={re.escape(router_id)} died \(exit code -9\); restarting it"
        )
        again = server.wait_line(rf"cluster member=1 pid=(\d+) router_id={re.escape(router_id)} serving", after=mark)
        assert int(again[1]) != pid
        assert _cpus(int(again[1])) == {allowed[0]}  # the same CPU as before
        assert server.metric("sendingip_cluster_restarts_total") == 1
        # The picks the killed member had counted stay in the sum (they were flushed: 0.2 s).
        after = _picks(server.target, key, 1000, connections=8, each=5)
        wait_for(lambda: _picks_metric(metrics) == len(before) + len(after))
        server.signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, server.output
        assert sum((await history(db)).values()) == len(before) + len(after)
        ids = {r["router_id"] for r in await db.fetch("SELECT DISTINCT router_id FROM history_flushes")}
        assert len(ids) == 2, ids  # the restarted member is the same router
    finally:
        server.stop()
        await db.close()
