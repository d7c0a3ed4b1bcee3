"""The metrics an operator and the console read (issue 17 item 4), scraped from a real
`sendingip serve`: per-method gRPC latency histograms, the rebalancer's run and phases,
accounts by management type and IPs by state per region; and a cluster's parent summing
its members' histograms."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import grpc
import pytest

from sendingip.v1 import management_pb2, management_pb2_grpc
from tests.support.databases import DatabaseFactory
from tests.support.processes import ServerProcess, admin_key, create_key, run_cli, sendingip_env, wait_for
from tests.support.requests import bearer

pytestmark = pytest.mark.e2e

HISTOGRAM = "sendingip_grpc_server_handling_seconds"


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def value(text: str, series: str) -> float | None:
    """The value of one series written as in the exposition, labels in their order."""
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(match[1]) if match else None


def test_serve_exports_rpc_latencies_the_rebalancers_run_and_the_counts(db_url: str, tmp_path: Path) -> None:
    env = sendingip_env(
        db_url,
        SENDINGIP_DATA_DIR=str(tmp_path),
        SENDINGIP_METRICS_LISTEN="127.0.0.1:0",
        SENDINGIP_REBALANCE_INTERVAL="0.5",
    )
    server = ServerProcess(env)
    try:
        cli = sendingip_env(db_url, SENDINGIP_LISTEN=server.target, SENDINGIP_API_KEY=admin_key(server))
        server.wait_serving()
        run_cli(cli, "ips", "add", "--region", "us-east", "--general", "192.0.2.1")
        run_cli(cli, "ips", "add", "--region", "us-east", "--inventory", "192.0.2.10", "192.0.2.11")
        run_cli(cli, "accounts", "create", "acme", "--region", "us-east")
        port = server.wait_metrics_port()

        def counted() -> bool:
            text = scrape(port)
            return (
                value(text, 'sendingip_accounts{management_type="general"}') == 1
                and value(text, 'sendingip_ips{region="us-east",state="free"}') == 2
            )

        wait_for(counted, timeout=20)
        text = scrape(port)
        method = "/sendingip.v1.Management/CreateAccount"
        assert value(text, f'{HISTOGRAM}_count{{method="{method}"}}') == 1
        assert value(text, f'{HISTOGRAM}_bucket{{le="+Inf",method="{method}"}}') == 1
        assert value(text, 'sendingip_ips{region="us-east",state="general"}') == 1
        assert value(text, 'sendingip_accounts{management_type="dedicated"}') == 0
        assert (value(text, "sendingip_rebalance_runs_total") or 0) >= 1
        assert (value(text, "sendingip_rebalance_last_run_seconds") or 0) > 0
        assert value(text, 'sendingip_rebalance_last_run_phase_seconds{phase="decide_and_apply"}') is not None
        assert (value(text, 'sendingip_rebalance_run_seconds_bucket{le="+Inf"}') or 0) >= 1
        # The router's own metrics are still there, once.
        assert text.count("# TYPE sendingip_routing_version gauge") == 1
    finally:
        server.stop()


async def test_a_clusters_parent_sums_its_members_latency_histograms_and_has_the_rebalancers(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await databases.create()
    key = create_key(url, "view,admin")
    env = sendingip_env(
        url,
        SENDINGIP_DATA_DIR=str(tmp_path),
        SENDINGIP_METRICS_LISTEN="127.0.0.1:0",
        SENDINGIP_REBALANCE_INTERVAL="0.5",
    )
    server = ServerProcess(env, ["--processes", "2"])  # with the workers: the rebalancer runs in the parent
    try:
        server.wait_line(r"cluster serving listen=")
        cli = sendingip_env(url, SENDINGIP_LISTEN=server.target, SENDINGIP_API_KEY=key)
        run_cli(cli, "ips", "add", "--region", "eu-west", "--general", "192.0.2.1")
        run_cli(cli, "ips", "add", "--region", "eu-west", "--inventory", "192.0.2.10")
        run_cli(cli, "accounts", "create", "acme", "--region", "eu-west")
        parent_port = server.wait_metrics_port()

        def counted() -> bool:
            text = scrape(parent_port)
            return (
                value(text, 'sendingip_accounts{management_type="general"}') == 1
                and value(text, 'sendingip_ips{region="eu-west",state="free"}') == 1
            )

        wait_for(counted, timeout=30)
        text = scrape(parent_port)
        assert value(text, 'sendingip_ips{region="eu-west",state="general"}') == 1
        assert (value(text, 'sendingip_rebalance_run_seconds_bucket{le="+Inf"}') or 0) >= 1
        assert text.count("# TYPE sendingip_rebalance_run_seconds histogram") == 1
        created = f'{HISTOGRAM}_count{{method="/sendingip.v1.Management/CreateAccount"}}'
        assert value(text, created) == 1
        calls = 24
        for _ in range(calls):  # a connection each: the kernel spreads connections among the members
            with grpc.insecure_channel(server.target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
                stub = management_pb2_grpc.ManagementStub(channel)  # type: ignore[no-untyped-call]
                stub.ListAccounts(management_pb2.ListAccountsRequest(), timeout=5, metadata=bearer(key))
        series = f'{HISTOGRAM}_count{{method="/sendingip.v1.Management/ListAccounts"}}'
        members = [
            int(m[1])
            for m in re.finditer(r"member-\d+ server\.router\.metrics metrics listen=\S+:(\d+)", server.output)
        ]
        per_member = [value(scrape(p), series) or 0 for p in members]
        assert len(per_member) == 2 and sum(per_member) == calls, per_member
        parent = scrape(parent_port)
        assert value(parent, series) == calls
        assert value(parent, f'{HISTOGRAM}_bucket{{le="+Inf",method="/sendingip.v1.Management/ListAccounts"}}') == calls
        assert parent.count(f"# TYPE {HISTOGRAM} histogram") == 1
    finally:
        server.stop()


def test_a_standalone_worker_serves_its_metrics_when_asked(db_url: str, tmp_path: Path) -> None:
    env = sendingip_env(
        db_url,
        SENDINGIP_DATA_DIR=str(tmp_path),
        SENDINGIP_WORKER_METRICS_LISTEN="127.0.0.1:0",
        SENDINGIP_REBALANCE_INTERVAL="0.5",
    )
    worker = ServerProcess(env, command=["worker"])
    try:
        port = worker.wait_metrics_port()
        wait_for(lambda: (value(scrape(port), "sendingip_rebalance_runs_total") or 0) >= 2, timeout=20)
        assert value(scrape(port), 'sendingip_accounts{management_type="general"}') == 0
    finally:
        worker.stop()
