"""Pick latency benchmark: p50/p99 of SelectSendingIP idle, and while the router reloads
100k accounts; and a profile of the in-process pick path.

    .venv/bin/python -m bench.reload_latency            # latency over gRPC (real `sendingip serve`)
    .venv/bin/python -m bench.reload_latency --profile  # cProfile of Engine.select

Uses ``SENDINGIP_DATABASE_URL``'s server when set (it creates and drops a database of its
own there), else an embedded PostgreSQL in a temporary folder. Not a test: numbers
depend on the machine; docs/benchmarks.md records what it printed and where.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import date
from pathlib import Path

import grpc

from sendingip.v1 import router_pb2, router_pb2_grpc
from server.router.history_buffer import HistoryBuffer
from server.router.limits import DailyLimits
from server.router.table import RoutingTable, compile_account, compile_region
from store import routing_store
from store.database import connect, with_database
from store.embedded import EmbeddedPostgres
from store.migrate import apply_migrations
from store.routing_entry import AccountRoute, DedicatedIP, ProviderRoute, RegionRoute

PROVIDERS = ("google", "microsoft", "yahoo", "apple", "other")
SENDINGIP = str(Path(sys.executable).with_name("sendingip"))


def account(i: int, version_tag: int = 0) -> AccountRoute:
    """A Transition account with a 3-IP dedicated pool and its own limits per provider."""
    addresses = [f"10.{(i >> 8) & 255}.{i & 255}.{j}" for j in range(3)]
    return AccountRoute(
        account_id=f"acct-{i}",
        region="us-east",
        management_type="transition",
        day=date.today(),
        pool_id=f"dedicated-{i}",
        providers={
            p: ProviderRoute(0.5, tuple(DedicatedIP(a, 1 / 3, 1000 * (k + 1) + version_tag) for a in addresses))
            for k, p in enumerate(PROVIDERS)
        },
    )


GENERAL = RegionRoute("us-east", "general-us-east", tuple(f"192.0.2.{j}" for j in range(1, 9)))


# -- the profile -------------------------------------------------------------------------


def profile(n_accounts: int, picks: int) -> None:
    from server.router.engine import Engine

    table = RoutingTable(loaded=True)
    table.regions["us-east"] = compile_region(GENERAL, 1)
    for i in range(n_accounts):
        table.accounts[f"acct-{i}"] = compile_account(account(i), i + 2)
    engine = Engine(table, DailyLimits(0), HistoryBuffer(10_000_000), default_region="us-east")
    requests = [
        router_pb2.SelectSendingIPRequest(account_id=f"acct-{i % n_accounts}", message_id=f"<{i}@bench>")
        for i in range(picks)
    ]
    started = time.perf_counter()
    for r in requests:
        engine.select(r, "google")
    elapsed = time.perf_counter() - started
    print(f"Engine.select: {picks} picks in {elapsed:.3f}s = {1e6 * elapsed / picks:.2f} µs/pick (no profiler)")
    prof = cProfile.Profile()
    prof.enable()
    for r in requests:
        engine.select(r, "google")
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(12)


# -- the latency benchmark ---------------------------------------------------------------


async def _prepare(server_url: str, name: str) -> str:
    async with connect(server_url) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    async with connect(url) as conn:
        await apply_migrations(conn)
        await conn.execute("INSERT INTO regions (region) VALUES ('us-east')")
        async with conn.transaction():
            await routing_store.publish(conn, [GENERAL, *(account(i) for i in range(100))])
    return url


async def _publish(url: str, n: int, tag: int) -> int:
    routes = [account(i, tag) for i in range(n)]
    async with connect(url) as conn, conn.transaction():
        return await routing_store.publish(conn, routes)


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(found[1]) if found else -1.0


def _percentiles(samples: list[float]) -> str:
    if len(samples) < 100:
        return f"n={len(samples)} (too few)"
    q = statistics.quantiles(samples, n=100)
    return (
        f"n={len(samples):6d} p50={q[49] * 1e3:.3f} ms p90={q[89] * 1e3:.3f} ms "
        f"p99={q[98] * 1e3:.3f} ms max={max(samples) * 1e3:.2f} ms"
    )


def latency(server_url: str, accounts: int, idle_seconds: float) -> None:
    name = f"sipbench_{uuid.uuid4().hex[:8]}"
    url = asyncio.run(_prepare(server_url, name))
    data_dir = tempfile.mkdtemp(prefix="sipbench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDINGIP_")}
    env.update(
        SENDINGIP_DATABASE_URL=url,
        SENDINGIP_DATA_DIR=data_dir,
        SENDINGIP_METRICS_LISTEN="127.0.0.1:0",
        SENDINGIP_ROUTING_POLL_INTERVAL="30",
    )
    key = (
        subprocess.run(
            [SENDINGIP, "keys", "create", "--permissions", "route"], env=env, capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    proc = subprocess.Popen(
        [SENDINGIP, "serve", "--no-workers", "--listen", "127.0.0.1:0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ports: dict[str, int] = {}
    ready = threading.Event()
    log: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.append(line)
            if m := re.search(r"serving listen=\S+:(\d+)", line):
                ports["grpc"] = int(m[1])
            if m := re.search(r"metrics listen=\S+:(\d+)", line):
                ports["metrics"] = int(m[1])
            if len(ports) == 2:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(30):
            raise SystemExit("server did not start:\n" + "".join(log))
        while _metric(ports["metrics"], "sendingip_routing_loaded") < 1:
            time.sleep(0.05)
        metadata = (("authorization", f"Bearer {key}"),)
        channel = grpc.insecure_channel(f"127.0.0.1:{ports['grpc']}")
        stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
        stop = threading.Event()
        samples: list[tuple[float, float]] = []  # (start, seconds)

        def client() -> None:
            i = 0
            while not stop.is_set():
                request = router_pb2.SelectSendingIPRequest(
                    account_id=f"acct-{i % 100}", message_id=f"<{i}@bench>", recipient_domain="gmail.com"
                )
                t0 = time.perf_counter()
                stub.SelectSendingIP(request, metadata=metadata, timeout=5)
                samples.append((t0, time.perf_counter() - t0))
                i += 1

        warm_up = router_pb2.SelectSendingIPRequest(
            account_id="acct-1", message_id="w", recipient_domain="gmail.com", retry=True
        )
        for _ in range(2000):  # the channel and the server's first calls
            stub.SelectSendingIP(warm_up, metadata=metadata)
        thread = threading.Thread(target=client)
        thread.start()
        # Scrape the metrics at the same slow pace in both windows (a scrape holds the GIL
        # of the server for a moment: polling faster would measure the exporter).
        deadline = time.perf_counter() + idle_seconds
        while time.perf_counter() < deadline:
            _metric(ports["metrics"], "sendingip_routing_version")
            time.sleep(0.5)
        idle_end = time.perf_counter()
        # The publisher runs in its own process so that its CPU does not disturb the client.
        publisher = subprocess.run(
            [sys.executable, "-m", "bench.reload_latency", "--publish", url, "--accounts", str(accounts)],
            capture_output=True,
            text=True,
            check=True,
        )
        committed = time.perf_counter()
        version = int(publisher.stdout.strip())
        while _metric(ports["metrics"], "sendingip_routing_version") < version:
            time.sleep(0.5)
        loaded = time.perf_counter()
        time.sleep(1.0)
        stop.set()
        thread.join()
        reload_seconds = _metric(ports["metrics"], "sendingip_routing_reload_seconds")
        idle = [s for t, s in samples if t < idle_end]
        during = [s for t, s in samples if committed <= t <= loaded]
        print(f"reload of {accounts} accounts: {reload_seconds:.2f}s (seen by the bench {loaded - committed:.2f}s)")
        print(f"idle:          {_percentiles(idle)}")
        print(f"during reload: {_percentiles(during)}")
        channel.close()
    finally:
        stopping = time.perf_counter()
        proc.terminate()
        proc.wait(30)
        print(f"stopped {time.perf_counter() - stopping:.2f}s after SIGTERM (history flushed, snapshot written)")

        async def drop() -> None:
            async with connect(server_url) as admin:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        asyncio.run(drop())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", action="store_true", help="profile Engine.select in process")
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--publish", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish:
        print(asyncio.run(_publish(args.publish, args.accounts, tag=1)))
        return
    if args.profile:
        profile(args.accounts, 200_000)
        return
    server_url = os.environ.get("SENDINGIP_DATABASE_URL")
    embedded = None
    if not server_url:
        embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="sipbench-pg-")))
        server_url = embedded.start()
    try:
        latency(server_url, args.accounts, args.idle_seconds)
    finally:
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
