"""PostgreSQL goes away under a running router (issue 8, fault 1) and a router starts
while it is away (the key cache on disk)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import grpc
import pytest

from sendingip.v1 import router_pb2_grpc
from store.database import connect
from store.migrate import apply_migrations
from tests.reliability.load import Picker, total
from tests.support.history import history, wait_history
from tests.support.processes import (
    SENDINGIP,
    PrivatePostgres,
    ServerProcess,
    admin_key,
    create_key,
    sendingip_env,
    wait_for,
)
from tests.support.requests import bearer, pick_request
from tests.support.routing import seed_acme

pytestmark = pytest.mark.e2e
FLUSH_INTERVAL = 0.2


def _env(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return sendingip_env(
        url,
        SENDINGIP_DATA_DIR=str(data_dir),
        SENDINGIP_METRICS_LISTEN="127.0.0.1:0",
        SENDINGIP_HISTORY_FLUSH_INTERVAL=str(FLUSH_INTERVAL),
        **extra,
    )


async def _prepare(pg: PrivatePostgres) -> None:
    async with connect(pg.url) as db:
        await apply_migrations(db)
        await seed_acme(db)


async def test_postgres_stopped_mid_picking_no_pick_fails_and_history_counts_each_once(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    await _prepare(private_pg)
    server = ServerProcess(_env(private_pg.url, tmp_path), ["--no-workers"])
    try:
        key = admin_key(server)
        server.wait_serving()
        with (
            Picker(server.target, key, mode="unary", name="unary") as unary,
            Picker(server.target, key, mode="batch", name="batch") as batch,
            Picker(server.target, key, mode="stream", name="stream") as stream,
        ):
            pickers = (unary, batch, stream)
            for p in pickers:
                p.wait_picks(100)
            # A clean stop, then a crash (in-flight flushes' outcome unknown): both times
            # the router keeps answering while its flushes fail.
            for mode in ("fast", "immediate"):
                private_pg.stop(mode)
                failed_before = server.metric("sendingip_history_flush_failures_total") or 0
                for p in pickers:
                    p.wait_picks(300)
                wait_for(lambda b=failed_before: (server.metric("sendingip_history_flush_failures_total") or 0) > b)
                private_pg.start()
                for p in pickers:
                    p.wait_picks(100)
        assert [p.failures for p in pickers] == [[], [], []]
        made = unary.counts + batch.counts + stream.counts
        async with connect(private_pg.url) as db:
            counted = await wait_history(db, made)
            assert counted == made, (total(counted), total(made))
        assert server.proc.poll() is None
    finally:
        server.stop()
    assert "Traceback" not in server.output, server.output


async def test_a_router_started_while_postgres_is_down_serves_with_the_keys_it_saved(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    await _prepare(private_pg)
    mta = create_key(private_pg.url, "route")
    revoked = create_key(private_pg.url, "route")
    env = _env(private_pg.url, tmp_path)
    subprocess.run(
        [SENDINGIP, "keys", "revoke", revoked.split("_")[1]], env=env, check=True, capture_output=True, timeout=60
    )
    request = pick_request("<1@mta>")

    first = ServerProcess(env, ["--no-workers"])
    try:
        first.wait_serving()
        with grpc.insecure_channel(first.target) as channel:
            online = router_pb2_grpc.RouterStub(channel).SelectSendingIP(request, timeout=5, metadata=bearer(mta))  # type: ignore[no-untyped-call]
    finally:
        first.stop()  # SIGTERM: saves the routing snapshot; the keys were saved when loaded

    saved = list((tmp_path / "router").glob("keys-*.json"))
    assert len(saved) == 1
    text = saved[0].read_text()
    _, key_id, secret = mta.split("_", 2)  # the secret is base64url: it may hold "_" itself
    assert key_id in text and secret not in text  # the id and hash, never the secret
    assert saved[0].stat().st_mode & 0o077 == 0

    private_pg.stop("fast")
    second = ServerProcess(env, ["--no-workers"])
    try:
        second.wait_serving()
        with grpc.insecure_channel(second.target) as channel:
            stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
            offline = stub.SelectSendingIP(request, timeout=5, metadata=bearer(mta))
            assert (offline.ip, offline.routing_version) == (online.ip, online.routing_version)
            for key in (revoked, mta[:-1] + ("A" if mta[-1] != "A" else "B")):
                with pytest.raises(grpc.RpcError) as refused:
                    stub.SelectSendingIP(request, timeout=5, metadata=bearer(key))
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "serving the api keys saved" in second.output
        private_pg.start()
    finally:
        second.stop()
    assert "Traceback" not in second.output, second.output


async def test_sigterm_while_postgres_is_down_keeps_the_picks_on_disk_until_the_next_start(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    await _prepare(private_pg)
    env = _env(private_pg.url, tmp_path, SENDINGIP_HISTORY_SHUTDOWN_TIMEOUT="1")
    first = ServerProcess(env, ["--no-workers"])
    try:
        key = admin_key(first)
        first.wait_serving()
        with Picker(first.target, key, mode="batch", name="before") as before:
            before.wait_picks(200)
        private_pg.stop("fast")
        with Picker(first.target, key, mode="unary", name="during") as during:
            during.wait_picks(200)
        first.stop()  # SIGTERM: the final flush cannot reach PostgreSQL
    finally:
        first.stop()
    assert [before.failures, during.failures] == [[], []]
    assert "history kept on disk until the next start" in first.output, first.output
    kept = list((tmp_path / "router").glob("history-*.jsonl"))
    assert len(kept) == 1

    private_pg.start()
    second = ServerProcess(env, ["--no-workers"])
    try:
        second.wait_serving()
        made = before.counts + during.counts
        async with connect(private_pg.url) as db:
            counted = await wait_history(db, made)
        assert counted == made, (total(counted), total(made))
        wait_for(lambda: not kept[0].exists())
    finally:
        second.stop()
    assert "writing them first" in second.output
    assert "Traceback" not in first.output + second.output


async def test_sigkill_during_an_outage_loses_at_most_the_last_flush_interval(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    """Issue 13, item 2: while flushes fail the backlog goes to disk every interval, so a
    SIGKILL in the middle of an outage loses at most what was picked since the last write."""
    await _prepare(private_pg)
    env = _env(private_pg.url, tmp_path)
    first = ServerProcess(env, ["--no-workers"])
    try:
        key = admin_key(first)
        first.wait_serving()
        with Picker(first.target, key, mode="batch", name="batch", pace=0.02) as picker:
            picker.wait_picks(200)
            private_pg.stop("fast")
            wait_for(lambda: (first.metric("sendingip_history_flush_failures_total") or 0) > 0)
            time.sleep(15 * FLUSH_INTERVAL)  # an outage of many flush intervals
            killed_at = time.monotonic()
            first.signal(signal.SIGKILL)
            assert first.wait(30) == -signal.SIGKILL
    finally:
        first.stop()
    made = picker.counts
    window = sum(n for at, n in picker.answered if at >= killed_at - 2 * FLUSH_INTERVAL - 0.3)
    assert total(made) - window > 2000, (total(made), window)  # the bound says something

    private_pg.start()
    second = ServerProcess(env, ["--no-workers"])
    try:
        second.wait_line("history kept on disk is written")
        async with connect(private_pg.url) as db:
            counted = await history(db)
    finally:
        second.stop()
    assert not counted - made, "history holds picks nobody was answered (or counted twice)"
    lost = total(made) - total(counted)
    assert 0 <= lost <= window, (lost, window, total(made))
    assert "Traceback" not in first.output + second.output


async def test_two_routers_on_one_host_keep_each_others_backlog(private_pg: PrivatePostgres, tmp_path: Path) -> None:
    """Issue 13, item 3: two routers sharing a data folder each keep their own backlog on
    disk; the routers started next take over both files, each exactly once."""
    await _prepare(private_pg)
    env = _env(private_pg.url, tmp_path, SENDINGIP_HISTORY_SHUTDOWN_TIMEOUT="1")
    routers = [ServerProcess(env, ["--no-workers"])]
    try:
        key = admin_key(routers[0])
        routers.append(ServerProcess(env, ["--no-workers"]))
        for r in routers:
            r.wait_serving()
        pickers = [Picker(r.target, key, mode="batch", name=f"p{i}") for i, r in enumerate(routers)]
        for p in pickers:
            p.__enter__()
        for p in pickers:
            p.wait_picks(200)
        private_pg.stop("fast")
        for p in pickers:
            p.wait_picks(1000)
        for p in pickers:
            p.stop()
        for r in routers:
            r.signal(signal.SIGTERM)
        assert [r.wait(30) for r in routers] == [0, 0], "\n".join(r.output for r in routers)
    finally:
        for r in routers:
            r.stop()
    assert [p.failures for p in pickers] == [[], []]
    made = pickers[0].counts + pickers[1].counts

    private_pg.start()
    again = [ServerProcess(env, ["--no-workers"]) for _ in range(2)]  # both look for orphans at once
    try:
        async with connect(private_pg.url) as db:
            counted = await wait_history(db, made)
        assert counted == made, (total(counted), total(made))
        wait_for(lambda: not list((tmp_path / "router").glob("history-*.json*")))
    finally:
        for r in again:
            r.stop()
    output = "\n".join(r.output for r in routers + again)
    assert "Traceback" not in output, output
