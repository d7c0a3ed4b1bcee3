"""`sendingip serve` as an MTA meets it: real process, real socket, real PostgreSQL."""

from __future__ import annotations

import re
import signal
import subprocess
import urllib.request
from collections import Counter
from pathlib import Path

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2

from sendingip.v1 import router_pb2, router_pb2_grpc, types_pb2
from tests.support.databases import DatabaseFactory
from tests.support.history import history, wait_history
from tests.support.processes import SENDINGIP, ServerProcess, health_status, sendingip_env, wait_for
from tests.support.requests import pick_request
from tests.support.routing import DEDICATED_IPS, GENERAL_IPS, account_route, publish, seed_acme, seed_region

pytestmark = pytest.mark.e2e


def _env(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return sendingip_env(
        url,
        SENDINGIP_DATA_DIR=str(data_dir),
        SENDINGIP_METRICS_LISTEN="127.0.0.1:0",
        SENDINGIP_ROUTING_POLL_INTERVAL="30",  # updates must arrive by NOTIFY
        **extra,
    )


def _route_key(url: str) -> tuple[tuple[str, str]]:
    """An MTA's key: permission ``route`` only, made with `sendingip keys create`."""
    out = subprocess.run(
        [SENDINGIP, "keys", "create", "--permissions", "route"],
        env=sendingip_env(url),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return (("authorization", f"Bearer {out.strip().splitlines()[-1]}"),)


def _req(i: int, account: str = "acme") -> router_pb2.SelectSendingIPRequest:
    return pick_request(f"<{i}@mta>", account, "outlook.com")


async def test_serve_routes_over_grpc_flushes_history_and_follows_updates(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await databases.create()
    db = await asyncpg.connect(url)
    key = _route_key(url)
    server = ServerProcess(_env(url, tmp_path, SENDINGIP_HISTORY_FLUSH_INTERVAL="0.2"))
    try:
        await seed_acme(db)
        target = server.target
        wait_for(lambda: health_status(target, "sendingip.v1.Router") == health_pb2.HealthCheckResponse.SERVING)
        with grpc.insecure_channel(target) as channel:
            stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
            answers = [stub.SelectSendingIP(_req(i), timeout=5, metadata=key) for i in range(200)]
            expected = Counter(("acme", a.ip, "microsoft") for a in answers)
            assert set(a.ip for a in answers) == set(GENERAL_IPS + DEDICATED_IPS)

            assert await wait_history(db, expected, timeout=10) == expected

            # The rebalancer moves the account to Dedicated: the running router follows.
            # (Polled as a retry, and then a new message: a message asked again within 10
            # minutes without retry gets its first answer, SPEC §3 v2.)
            version = await publish(db, account_route("acme", management_type="dedicated", share=1.0))
            poll = pick_request("<poll@mta>", domain="outlook.com", retry=True)
            wait_for(lambda: stub.SelectSendingIP(poll, timeout=5, metadata=key).routing_version == version, timeout=5)
            after = stub.SelectSendingIP(_req(1000), timeout=5, metadata=key)
            assert (after.pool_type, after.management_type) == (
                types_pb2.POOL_TYPE_DEDICATED,
                types_pb2.MANAGEMENT_TYPE_DEDICATED,
            )

        port = re.search(r"metrics listen=\S+:(\d+)", server.output)
        assert port, server.output
        with urllib.request.urlopen(f"http://127.0.0.1:{port[1]}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert f"sendingip_routing_version {float(version)}" in metrics
    finally:
        server.stop()
        await db.close()
    assert "Traceback" not in server.output, server.output


async def test_sigterm_flushes_every_pick_before_exit(databases: DatabaseFactory, tmp_path: Path) -> None:
    url = await databases.create()
    db = await asyncpg.connect(url)
    key = _route_key(url)
    # Flushes would come once a minute: only the final flush can write these picks.
    server = ServerProcess(_env(url, tmp_path, SENDINGIP_HISTORY_FLUSH_INTERVAL="60"))
    try:
        await seed_region(db)
        target = server.target
        wait_for(lambda: health_status(target) == health_pb2.HealthCheckResponse.SERVING)
        with grpc.insecure_channel(target) as channel:
            stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
            batch = stub.SelectSendingIPBatch(
                router_pb2.SelectSendingIPBatchRequest(requests=[_req(i, "newcomer") for i in range(500)]),
                timeout=5,
                metadata=key,
            )
        assert await history(db) == Counter()
        server.signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, server.output
        assert await history(db) == Counter(("newcomer", a.ip, "microsoft") for a in batch.responses)
        assert await db.fetchval("SELECT count(*) FROM accounts WHERE account_id = 'newcomer'") == 1
        assert await db.fetchval("SELECT count(*) FROM router_heartbeats") == 0
    finally:
        server.stop()
        await db.close()
    assert "Traceback" not in server.output, server.output
