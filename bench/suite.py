"""`make bench`: every figure of docs/benchmarks.md's table, side by side, in one run.

Starts its own PostgreSQL (or uses ``SENDINGIP_DATABASE_URL``'s server, in a database of
its own), seeds a routing table, creates a route key, starts the real router
(`sendingip serve --no-workers`) and the naive baseline (bench/naive.py), and measures:

a. unary SelectSendingIP vs grpc.health.v1.Health/Check vs the naive baseline, h2load;
b. latency at a fixed open-loop rate of about half the measured maximum, h2load --rps;
b'. picks/s per core through the HTTP/JSON, line and Postfix policy doors of the same router
   against gRPC unary, and their latency at half of each one's maximum (bench/doorbench.py);
b''. unary picks/s of `serve --processes 2` against one process, gRPC and the HTTP door
    (bench/processes.py);
c. SelectSendingIPBatch and SelectSendingIPStream picks/s vs unary, Python grpc.aio client;
d. pick latency during a full routing-table reload vs idle;
e. NOTIFY propagation from a publish commit to two routers;
f. history flush rows/s; rebalance time at 100k accounts (bench/rebalance_scale.py).

`--routers N` is a mode of its own instead: N routers against one database of 1M accounts
(bench/multi_router.py).

Each pair is repeated (default 3×, orders rotated) and medians reported. On a machine with
two CPUs or more the server under test is pinned to CPU 0 and every load generator to
CPU 1 with taskset, so client and server do not take turns on one core; PostgreSQL is
left unpinned.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench import clients, doors, h2load, rebalance_scale, schedstat, seed, stack, wrk
from bench.report import Figure, Report, machine
from bench.stats import median, percentiles
from sendingip.v1 import router_pb2, router_pb2_grpc
from server.router.history_buffer import Flush
from server.router.history_flusher import PostgresHistorySink
from store import routing_store
from store.database import connect, create_pool

ROOT = Path(__file__).resolve().parent.parent
SELECT = "/sendingip.v1.Router/SelectSendingIP"
HEALTH = "/grpc.health.v1.Health/Check"
#: The account of the unary h2load body: a Transition account (warming pairs with limits).
UNARY_ACCOUNT = 17
#: Issue 16's goals: p99 at half load, batch against unary, a rebalance of 100,000 accounts.
P99_GOAL_MS = 2.0
BATCH_GOAL_RATIO = 50.0
REBALANCE_GOAL_SECONDS, REBALANCE_GOAL_ACCOUNTS = 30.0, 100_000
ISSUE = "16"  # the issue of those goals and of serve --processes 2 vs one (bench/processes.py)


@dataclass(frozen=True)
class Options:
    quick: bool = False
    accounts: int = 10_000
    repeats: int = 3
    seconds: float = 5.0
    rebalance_accounts: int = 100_000
    notify_updates: int = 50
    flush_rows: int = 50_000
    out: Path = Path("bench-results")
    command: str = "make bench"
    #: Run the 100k rebalance (a minute); off in tests.
    rebalance: bool = True

    @classmethod
    def for_mode(cls, quick: bool, **overrides: Any) -> Options:
        if quick:
            base = cls(quick=True, seconds=2.0, rebalance_accounts=20_000, notify_updates=30, flush_rows=20_000)
        else:
            base = cls()
        return cls(**{**base.__dict__, **{k: v for k, v in overrides.items() if v is not None}})


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _cpus() -> tuple[str | None, str | None]:
    """(server CPU, client CPU) for taskset, or (None, None) on one CPU."""
    if (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"):
        return "0", "1"
    return None, None


def _child_env(env: dict[str, str]) -> dict[str, str]:
    """Children import ``bench`` from the checkout whatever their working folder."""
    out = dict(env)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return out


class Bench:
    def __init__(self, options: Options, report: Report) -> None:
        self.o = options
        self.report = report
        self.server_cpu, self.client_cpu = _cpus()
        self.h2load = ""
        self.wrk = ""
        self.tmp = Path(tempfile.mkdtemp(prefix="sipbench-"))
        self.url = ""
        self.key = ""
        self.env: dict[str, str] = {}

    def error(self, message: str) -> None:
        _log("WARNING " + message)
        self.report.errors.append(message)

    # -- load generators ---------------------------------------------------------------

    def run_h2load(
        self, target: str, path: str, body: Path, *, seconds: float, warm_up: float = 0.0, **kw: Any
    ) -> tuple[h2load.H2loadResult, float]:
        """One h2load run; returns its result and the wall time (time.time) it started."""
        cmd = h2load.command(
            self.h2load,
            f"http://{target}{path}",
            body=body,
            headers=h2load.grpc_headers(self.key),
            duration=seconds,
            warm_up=warm_up,
            cpus=self.client_cpu,
            **kw,
        )
        started = time.time()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + warm_up + 60)
        return h2load.parse_output(done.stdout + done.stderr), started

    def python_client(self, mode: str, target: str, seconds: float) -> dict[str, Any]:
        cmd = stack.pinned(
            [
                sys.executable,
                "-m",
                "bench.clients",
                mode,
                "--target",
                target,
                "--key",
                self.key,
                "--seconds",
                f"{seconds:g}",
                "--accounts",
                str(self.o.accounts),
            ],
            self.client_cpu,
        )
        done = subprocess.run(cmd, env=_child_env(self.env), capture_output=True, text=True, timeout=seconds + 120)
        if done.returncode != 0:
            raise RuntimeError(f"bench.clients {mode} failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        if result.get("errors"):
            self.error(f"python client {mode}: errors {result['errors']}")
        return result

    # -- the run --------------------------------------------------------------------------

    def run(self, server_url: str, url: str) -> None:
        o = self.o
        self.url = url
        _log(f"seeding {o.accounts} accounts")
        asyncio.run(seed.seed(url, o.accounts))
        self.env = stack.sendingip_env(url, self.tmp / "data")
        self.key = stack.create_key(self.env)
        no_workers = stack.serve_accepts_no_workers()
        if not no_workers:
            self.error("`sendingip serve` has no --no-workers yet: the router runs its workers in-process")
        # The MTA doors act with the route key (SENDINGIP_HTTP_LISTEN is in self.env already).
        door_env = {
            **self.env,
            "SENDINGIP_LINE_LISTEN": "127.0.0.1:0",
            "SENDINGIP_POSTFIX_LISTEN": "127.0.0.1:0",
            "SENDINGIP_ADAPTER_KEY": self.key,
        }
        router = stack.start_router(door_env, cpus=self.server_cpu, no_workers=no_workers)
        naive = stack.ServerProcess(
            stack.pinned([sys.executable, "-m", "bench.naive", "--database-url", url], self.server_cpu),
            _child_env(self.env),
            metrics=False,
        )
        try:
            naive.wait_ready()
            _log(f"router {router.target}, naive baseline {naive.target}")
            self.unary(router, naive)
            self.doors(router)
            self.processes(router)
            self.shapes(router)
            self.reload(router)
            self.notify(router, no_workers)
            asyncio.run(self.flush())
        finally:
            naive.stop()
            router.stop()
        if o.rebalance:
            self.rebalance(server_url)

    def bodies(self) -> tuple[Path, Path, router_pb2.SelectSendingIPRequest]:
        request = router_pb2.SelectSendingIPRequest(
            account_id=seed.account_id(UNARY_ACCOUNT), message_id="<h2load@bench.example>", recipient_domain="gmail.com"
        )
        select = self.tmp / "select.bin"
        select.write_bytes(h2load.grpc_frame(request.SerializeToString()))
        health = self.tmp / "health.bin"
        health.write_bytes(h2load.grpc_frame(health_pb2.HealthCheckRequest().SerializeToString()))
        return select, health, request

    def verify(
        self, target: str, request: router_pb2.SelectSendingIPRequest, what: str, *, health: bool = False
    ) -> bool:
        """h2load cannot see grpc-status: send the same requests once with a real client."""
        md = clients.metadata(self.key)
        try:
            with grpc.insecure_channel(target) as channel:
                router_pb2_grpc.RouterStub(channel).SelectSendingIP(  # type: ignore[no-untyped-call]
                    request, metadata=md, timeout=10
                )
                if health:
                    health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), metadata=md, timeout=10)
        except grpc.RpcError as exc:
            self.error(f"{what}: the h2load request fails with a real client: {exc}")
            return False
        return True

    def unary(self, router: stack.ServerProcess, naive: stack.ServerProcess) -> None:
        o = self.o
        select, health, request = self.bodies()
        ok = self.verify(router.target, request, "router", health=True) and self.verify(naive.target, request, "naive")
        _log("warming up (h2load)")
        for target, path, body in ((router.target, SELECT, select), (router.target, HEALTH, health)):
            self.run_h2load(target, path, body, seconds=1.0)
        self.run_h2load(naive.target, SELECT, select, seconds=1.0)
        runs: dict[str, list[float]] = {"select": [], "health": [], "naive": []}
        mismatches: list[str] = []
        failures = 0
        plan: list[tuple[str, str, str, Path]] = [
            ("select", router.target, SELECT, select),
            ("health", router.target, HEALTH, health),
            ("naive", naive.target, SELECT, select),
        ]
        inflight = 4 * 32
        for rep in range(o.repeats):
            order = plan[rep % 3 :] + plan[: rep % 3]
            for name, target, path, body in order:
                before = router.picks() if name == "select" else 0.0
                result, _ = self.run_h2load(target, path, body, seconds=o.seconds)
                failures += result.failed + result.errored + result.timeout + result.status_other
                if name == "select":
                    # Every HTTP 200 must be a counted pick (grpc-status 0); h2load may stop
                    # with up to clients × streams calls still in flight.
                    picks = router.picks() - before
                    if not result.succeeded <= picks <= result.succeeded + inflight:
                        mismatches.append(f"{picks:.0f} picks for {result.succeeded} h2load successes")
                runs[name].append(result.rps)
                _log(f"unary {name} rep {rep + 1}: {result.rps:,.0f} req/s")
        if failures:
            self.error(f"h2load reported {failures} failed/errored/non-2xx requests in the unary runs")
        if mismatches:
            self.error("router pick counter disagrees with h2load: " + "; ".join(mismatches))
        ok = ok and self.verify(naive.target, request, "naive (after)")
        sel, hc, nv = median(runs["select"]), median(runs["health"]), median(runs["naive"])
        self.select_rps = sel
        ratio = sel / hc
        verified = "grpc-status verified" if ok and not mismatches else "**grpc-status NOT verified**"
        self.report.add(
            Figure(
                "Unary SelectSendingIP vs Health/Check (h2load)",
                f"{sel:,.0f} vs {hc:,.0f} req/s = **{ratio:.2f}×**",
                {"select_rps": runs["select"], "health_rps": runs["health"], "ratio": ratio},
                "≥ 0.85×",
                ratio >= 0.85,
                f"medians of {o.repeats}; {verified}; h2load -c4 -m32, {o.seconds:g} s each",
            )
        )
        vs = sel / nv
        self.report.add(
            Figure(
                "Ours vs naive baseline (reads PostgreSQL per request)",
                f"{sel:,.0f} vs {nv:,.0f} req/s = **{vs:.2f}×**",
                {"naive_rps": runs["naive"], "ratio": vs},
                "≥ 1.5×",
                vs >= 1.5,
                "same h2load body, same CPU pinning",
            )
        )
        self.latency(router, select, health, sel)

    def latency(self, router: stack.ServerProcess, select: Path, health: Path, max_rps: float) -> None:
        """p99 at half the maximum, and grpc's own Health/Check at the same rate: its floor."""
        o = self.o
        rate = max(100.0, round(max_rps / 2, -2))
        warm = 1.0
        found: dict[str, dict[str, list[float]]] = {
            n: {"p50": [], "p99": [], "p99.9": []} for n in ("select", "health")
        }
        bunched: list[float] = []
        #: The router's CPU, its wait for CPU 0 and what else ran there, per run (bench/schedstat.py).
        cpu: dict[str, list[schedstat.Share]] = {"select": [], "health": []}
        other = 0
        plan = [("select", SELECT, select), ("health", HEALTH, health)]
        processes = h2load.paced_processes(rate)
        for rep in range(o.repeats):
            for name, path, body in plan[rep % 2 :] + plan[: rep % 2]:
                logs = self.tmp / f"latency-{name}-{rep}"
                logs.mkdir()
                before = schedstat.sample(router.proc.pid, self.server_cpu)
                run = h2load.paced(
                    self.h2load,
                    f"http://{router.target}{path}",
                    body=body,
                    headers=h2load.grpc_headers(self.key),
                    rate=rate,
                    duration=o.seconds,
                    warm_up=warm,
                    logs=logs,
                    cpus=self.client_cpu,
                )
                cpu[name].append(schedstat.share(before, schedstat.sample(router.proc.pid, self.server_cpu)))
                other += run.bad
                bunched.append(h2load.bunched([start for start, _ in run.timed]))
                p = percentiles([seconds for _, seconds in run.timed], (50, 99, 99.9))
                for q in found[name]:
                    found[name][q].append(p.get(q, float("nan")))
                _log(
                    f"latency {name} rep {rep + 1} at {rate:,.0f} req/s: "
                    f"p50 {p['p50'] * 1e3:.2f} p99 {p['p99'] * 1e3:.2f} ms"
                )
        if other:
            self.error(f"latency runs: {other} failed or non-200 requests")
        p50, p99, p999 = (median(found["select"][q]) * 1e3 for q in ("p50", "p99", "p99.9"))
        h50, h99 = (median(found["health"][q]) * 1e3 for q in ("p50", "p99"))
        waited = median([c.waited_ms_per_s for name in cpu for c in cpu[name]])
        others = median([c.others_cpu for name in cpu for c in cpu[name]])
        ours, floor = (median([c.server_cpu for c in cpu[name]]) for name in ("select", "health"))
        self.report.add(
            Figure(
                f"Unary latency at {rate:,.0f} req/s open loop (½ of max), and Health/Check at that rate",
                f"p50 {p50:.2f} ms · **p99 {p99:.2f} ms** · p99.9 {p999:.2f} ms; "
                f"grpc's floor, Health/Check: p50 {h50:.2f} ms · **p99 {h99:.2f} ms**",
                {
                    "rate": rate,
                    **found["select"],
                    "health": found["health"],
                    "bunched": bunched,
                    "cpu": {name: [c.__dict__ for c in shares] for name, shares in cpu.items()},
                },
                f"p99 ≤ {P99_GOAL_MS:g} ms",
                p99 <= P99_GOAL_MS,
                f"{processes} paced h2load processes of one connection (one request per 10 ms tick each: "
                f"docs/benchmarks.md#where-the-p99-goes), {o.seconds:g} s each after {warm:g} s; "
                f"{median(bunched):.0%} of requests sent within 0.1 ms of another; medians of {o.repeats}. "
                f"The router's CPU at this rate: {ours:.2f} for SelectSendingIP vs {floor:.2f} for Health/Check; "
                f"it waited, runnable, {waited:.0f} ms a second for its CPU, where other processes used {others:.2f} "
                "(/proc schedstat)",
                issue=ISSUE,
            )
        )

    def doors(self, router: stack.ServerProcess) -> None:
        from bench.doorbench import DoorBench  # it builds on this module

        try:
            DoorBench(self, router).run()
        except (doors.ClientMissing, RuntimeError, ValueError, OSError, subprocess.SubprocessError) as exc:
            self.error(f"door figures not measured: {exc}")

    def processes(self, router: stack.ServerProcess) -> None:
        from bench.processes import ProcessesBench  # it builds on this module

        first = len(self.report.figures)
        try:
            ProcessesBench(self, router).run()
        except (RuntimeError, ValueError, OSError, subprocess.SubprocessError) as exc:
            self.error(f"serve --processes figures not measured: {exc}")
        for figure in self.report.figures[first:]:
            figure.issue = ISSUE

    def shapes(self, router: stack.ServerProcess) -> None:
        from bench.processes import process_cpu_seconds  # it builds on this module

        o = self.o
        runs: dict[str, list[float]] = {"unary": [], "batch": [], "stream": []}
        #: Picks per CPU-second of the router: what a busy machine's other processes take
        #: from it changes the rates, far less this.
        per_cpu: dict[str, list[float]] = {"unary": [], "batch": [], "stream": []}
        for rep in range(o.repeats):
            for mode in ("unary", "batch", "stream"):
                cpu = process_cpu_seconds(router.proc.pid)
                result = self.python_client(mode, router.target, o.seconds)
                cpu = process_cpu_seconds(router.proc.pid) - cpu
                runs[mode].append(float(result["picks_per_second"]))
                per_cpu[mode].append(result["picks"] / cpu if cpu > 0 else float("nan"))
                _log(f"{mode} rep {rep + 1}: {result['picks_per_second']:,.0f} picks/s")
        unary, batch, stream = (median(runs[m]) for m in ("unary", "batch", "stream"))
        unary_cpu, batch_cpu = median(per_cpu["unary"]), median(per_cpu["batch"])
        self.report.add(
            Figure(
                "SelectSendingIPBatch vs unary (Python grpc.aio client)",
                f"{batch:,.0f} vs {unary:,.0f} picks/s = **{batch / unary:.1f}×**",
                {"batch": runs["batch"], "unary": runs["unary"], "ratio": batch / unary, "per_cpu": per_cpu},
                f"≥ {BATCH_GOAL_RATIO:g}×",
                batch / unary >= BATCH_GOAL_RATIO,
                "batches of 1,000, 4 in flight; unary 64 in flight; one client process on its own CPU; "
                f"per router CPU-second {batch_cpu / unary_cpu:.1f}× ({1e6 / batch_cpu:.1f} µs a pick in a batch, "
                f"{1e6 / unary_cpu:.0f} µs a unary call)",
                issue=ISSUE,
            )
        )
        self.report.add(
            Figure(
                "SelectSendingIPStream vs unary (Python grpc.aio client)",
                f"{stream:,.0f} vs {unary:,.0f} picks/s = **{stream / unary:.1f}×**",
                {"stream": runs["stream"], "ratio": stream / unary},
                "≥ 3×",
                stream / unary >= 3,
                "4 streams, 256 requests in flight each",
            )
        )

    def reload(self, router: stack.ServerProcess) -> None:
        o = self.o
        out = self.tmp / "sequential.tsv"
        cmd = stack.pinned(
            [
                *(sys.executable, "-m", "bench.clients", "sequential", "--target", router.target),
                *("--key", self.key, "--accounts", str(o.accounts), "--out", str(out)),
            ],
            self.client_cpu,
        )
        client = subprocess.Popen(
            cmd, env=_child_env(self.env), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert client.stdout is not None and client.stdin is not None
        client.stdout.readline()  # "ready"
        idle_from = time.time()
        time.sleep(max(3.0, o.seconds))
        idle_to = time.time()
        publish = subprocess.run(
            [sys.executable, "-m", "bench.seed", "--publish", self.url, "--accounts", str(o.accounts), "--tag", "7"],
            env=_child_env(self.env),
            capture_output=True,
            text=True,
            check=True,
        )
        committed = time.time()
        version = int(publish.stdout.strip())
        while router.metric("sendingip_routing_version") < version:
            time.sleep(0.25)
        loaded = time.time()
        time.sleep(0.5)
        client.stdin.close()
        client.wait(60)
        samples = [tuple(map(float, line.split("\t"))) for line in out.read_text().splitlines() if line]
        idle = percentiles([s for w, s in samples if idle_from <= w <= idle_to], (50, 99))
        during = percentiles([s for w, s in samples if committed <= w <= loaded], (50, 99))
        if during.get("n", 0) < 100:
            self.error(f"reload: only {during.get('n', 0):.0f} picks measured during the reload")
        ratio = during.get("p99", float("nan")) / idle["p99"]
        self.report.add(
            Figure(
                f"Pick p99 during a full reload ({o.accounts:,} entries) vs idle",
                f"{during.get('p99', float('nan')) * 1e3:.2f} vs {idle['p99'] * 1e3:.2f} ms = **{ratio:.2f}×**",
                {"idle": idle, "during": during, "reload_seconds": loaded - committed},
                "≤ 2× (router issue)",
                ratio <= 2.0,
                f"one sequential client; reload took {loaded - committed:.1f} s as seen by polling; "
                f"p50 {during.get('p50', float('nan')) * 1e3:.2f} vs {idle['p50'] * 1e3:.2f} ms",
            )
        )

    def notify(self, router: stack.ServerProcess, no_workers: bool) -> None:
        second = stack.start_router(self.env, cpus=self.client_cpu, no_workers=no_workers)
        try:
            delays, per_router = asyncio.run(self._propagation([router.target, second.target]))
        finally:
            second.stop()
        p = percentiles(delays, (50, 99))
        self.report.add(
            Figure(
                f"NOTIFY propagation to 2 routers ({len(delays)} updates)",
                f"p50 {p['p50'] * 1e3:.1f} ms · **p99 {p['p99'] * 1e3:.1f} ms**",
                {"seconds": delays, "per_router_p50": [percentiles(d, (50,))["p50"] for d in per_router]},
                "p99 < 1 s",
                p["p99"] < 1.0,
                "publish commit → both routers answer with the new routing_version (polled every ~2 ms)",
            )
        )

    async def _propagation(self, targets: list[str]) -> tuple[list[float], list[list[float]]]:
        md = clients.metadata(self.key)
        channels = [grpc.aio.insecure_channel(t) for t in targets]
        stubs = [router_pb2_grpc.RouterStub(c) for c in channels]  # type: ignore[no-untyped-call]
        delays: list[float] = []
        per_router: list[list[float]] = [[] for _ in targets]
        try:
            async with connect(self.url) as conn:
                for n in range(self.o.notify_updates):
                    i = UNARY_ACCOUNT + 20 * n  # Transition accounts
                    request = router_pb2.SelectSendingIPRequest(
                        account_id=seed.account_id(i % self.o.accounts), message_id="<notify>", retry=True
                    )
                    request.recipient_domain = "gmail.com"
                    async with conn.transaction():
                        version = await routing_store.publish(conn, [seed.account(i % self.o.accounts, 100 + n)])
                    t0 = time.perf_counter()

                    async def seen(stub: Any, t0: float = t0, version: int = version, r: Any = request) -> float:
                        while True:
                            response = await stub.SelectSendingIP(r, metadata=md, timeout=5)
                            if response.routing_version >= version:
                                return time.perf_counter() - t0
                            if time.perf_counter() - t0 > 30:
                                raise TimeoutError(f"version {version} not seen within 30 s")
                            await asyncio.sleep(0.002)

                    found = await asyncio.gather(*(seen(s) for s in stubs))
                    for k, d in enumerate(found):
                        per_router[k].append(d)
                    delays.append(max(found))
                    await asyncio.sleep(0.05)
        finally:
            for c in channels:
                await c.close()
        return delays, per_router

    async def flush(self) -> None:
        o = self.o
        pool = await create_pool(self.url, size=1)
        day = int(time.time() // 86400)
        rows = [
            ((day, seed.account_id(i % o.accounts), f"10.9.{(i // 250) % 250}.{i % 250}", p), 1 + i % 7)
            for i in range(o.flush_rows // len(seed.PROVIDERS))
            for p in seed.PROVIDERS
        ]
        rows.sort()
        sink = PostgresHistorySink(pool, "bench")
        rates: list[float] = []
        try:
            for _ in range(o.repeats):
                flush = Flush(uuid.uuid4(), rows, [], sum(n for _, n in rows), time.monotonic())
                t = time.perf_counter()
                await sink.write(flush)
                rates.append(len(rows) / (time.perf_counter() - t))
        finally:
            await pool.close()
        rate = median(rates)
        _log(f"history flush: {rate:,.0f} rows/s")
        self.report.add(
            Figure(
                "History flush",
                f"{rate:,.0f} rows/s",
                {"rows": len(rows), "rows_per_second": rates},
                note=f"one flush of {len(rows):,} distinct keys, insert then add; the statement routers run every second",
            )
        )

    def rebalance(self, server_url: str) -> None:
        n = self.o.rebalance_accounts
        _log(f"rebalance of {n:,} accounts (bench/rebalance_scale.py)")
        result = asyncio.run(rebalance_scale.run(server_url, n, 5_000, first_only=True))
        first = result["first_run"]
        self.report.add(
            Figure(
                f"Rebalance of {n:,} accounts",
                f"{first['seconds']:.1f} s",
                result,
                f"≤ {REBALANCE_GOAL_SECONDS:g} s at {REBALANCE_GOAL_ACCOUNTS:,}",
                first["seconds"] <= REBALANCE_GOAL_SECONDS if n == REBALANCE_GOAL_ACCOUNTS else None,
                note=f"{result['history_rows']:,} history rows; {first['applied']:,} accounts changed, "
                f"{first['assigned']:,} IPs assigned; python -m bench.rebalance_scale --accounts {n}",
                issue=ISSUE,
            )
        )


def run(options: Options) -> Report:
    started = time.perf_counter()
    report = Report(command=options.command, mode="quick" if options.quick else "full")
    h2 = h2load.ensure_h2load()
    bench = Bench(options, report)
    bench.h2load = h2
    bench.wrk = wrk.ensure_wrk()
    server_cpu, client_cpu = bench.server_cpu, bench.client_cpu
    with stack.postgres_server() as server_url:
        pg = asyncio.run(_postgres_version(server_url))
        report.machine = machine(h2, pg, bench.wrk)
        report.setup = [
            f"PostgreSQL: {'SENDINGIP_DATABASE_URL' if os.environ.get('SENDINGIP_DATABASE_URL') else 'embedded'}, "
            "a database of the bench's own, unpinned",
            f"Routing table: {options.accounts:,} accounts in 2 regions (85% General, 10% Transition with warming "
            "pairs, 5% Dedicated) and a 16-IP general pool per region, published with routing_store.publish",
            (
                f"CPU pinning (taskset): servers under test on CPU {server_cpu}, load generators on CPU {client_cpu}"
                if server_cpu is not None
                else "CPU pinning: off (one CPU)"
            ),
            "One router process serves gRPC, HTTP/JSON, the line protocol and Postfix policy for the door "
            f"figures; requests for account {seed.account_id(UNARY_ACCOUNT)} (Transition), gmail.com",
            f"Each measurement {options.repeats}×, orders rotated, medians reported",
        ]
        try:
            with stack.bench_database(server_url) as url:
                bench.run(server_url, url)
        finally:
            shutil.rmtree(bench.tmp, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


async def _postgres_version(url: str) -> str:
    async with connect(url) as conn:
        text = str(await conn.fetchval("SHOW server_version"))
    return f"PostgreSQL {text.split()[0]}"


def main(argv: list[str] | None = None, *, command: str | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="sendingip bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_from_args(args, command or "python -m bench " + " ".join(argv or sys.argv[1:]))


def add_arguments(parser: Any) -> None:
    parser.add_argument("--quick", action="store_true", help="shorter runs and a 20k rebalance (~2 minutes)")
    parser.add_argument("--accounts", type=int, help="accounts in the routing table (10,000)")
    parser.add_argument("--repeats", type=int, help="repetitions of each measurement (3)")
    parser.add_argument("--seconds", type=float, help="seconds per throughput run (5; 2 with --quick)")
    parser.add_argument("--rebalance-accounts", type=int, help="accounts of the rebalance run (100,000; 20,000 quick)")
    parser.add_argument("--no-rebalance", action="store_true", help="skip the rebalance figure")
    parser.add_argument("--out", type=Path, help="folder for latest.md and latest.json (bench-results)")
    parser.add_argument(
        "--routers", type=int, help="instead: N routers against one database of 1M accounts (bench/multi_router.py)"
    )


def run_from_args(args: Any, command: str, echo: Callable[[str], None] = print) -> int:
    if getattr(args, "routers", None):
        from bench import multi_router  # it builds on this module

        return multi_router.run_from_args(args, command, echo)
    options = Options.for_mode(
        args.quick,
        accounts=args.accounts,
        repeats=args.repeats,
        seconds=args.seconds,
        rebalance_accounts=args.rebalance_accounts,
        out=args.out,
        command=command.strip(),
        rebalance=False if args.no_rebalance else None,
    )
    try:
        report = run(options)
    except (h2load.H2loadMissing, wrk.WrkMissing) as exc:
        print(f"sendingip bench: {exc}", file=sys.stderr)
        return 2
    return write_report(report, options.out, echo)


def write_report(report: Report, out: Path, echo: Callable[[str], None]) -> int:
    """latest.md and latest.json into ``out``, the table to ``echo``; the exit status."""
    md, js = report.write(out)
    echo(report.markdown())
    _log(f"written {md} and {js}")
    return 0
