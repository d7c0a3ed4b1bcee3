"""`sendingip bench --routers N`: N router hosts against one PostgreSQL, simulated on this machine.

docs/operations.md ("Beyond one machine") describes routers on N hosts sharing one
PostgreSQL primary. This mode puts measured numbers behind it, in one run:

1. one database seeded with ``--accounts`` (1,000,000) accounts by COPY (bench/bulk_seed.py),
   seeding time reported;
2. N `sendingip serve --no-workers` processes, each with its own router id, ports and data
   folder (as N hosts would have): the first started alone, the others together, each
   timed from its start to ``sendingip_routing_loaded`` and its resident memory read then;
3. unary picks with h2load (the suite's request, 4 connections × 32 streams), against the
   first router alone and against all N side by side (one h2load each, started together),
   ``repeats`` times, orders rotated: total and per-router picks/s and their ratio, every
   router's pick counter checked against its h2load's successes; the routers' and the load
   generators' CPU, and PostgreSQL's transactions per second meanwhile;
4. lease traffic: ``sendingip_lease_requests_total`` summed over the routers, per second of
   the side-by-side runs ("n/a (not built)" when the routers have no such counter);
5. propagation: a routing change committed → every router answers with its version (the
   suite's NOTIFY figure, with N routers);
6. the history flush figure of the suite (the statement each router runs once a second).

Nothing is pinned: N routers and N load generators share the machine's CPUs, so on a
2-CPU machine the side-by-side total measures how the CPUs are shared, not how N hosts
scale. The figures say how much CPU the routers got and how many picks each router
CPU-second made, alone and side by side: equal values mean the routers do not slow one
another down through PostgreSQL, which is what N hosts need.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import bulk_seed, h2load, stack
from bench.processes import children_cpu_seconds, process_cpu_seconds, settled
from bench.report import Figure, Report, machine
from bench.stats import median, percentiles
from bench.suite import SELECT, Bench, Options, _log, _postgres_version, write_report
from store.database import connect

LEASE_REQUESTS = "sendingip_lease_requests_total"
CONNECTIONS, STREAMS = 4, 32
#: Longest a router may take to load its table (a million entries, several routers at once).
LOAD_TIMEOUT = 900.0


@dataclass(frozen=True)
class MultiOptions:
    routers: int = 4
    accounts: int = 1_000_000
    repeats: int = 3
    seconds: float = 5.0
    notify_updates: int = 50
    flush_rows: int = 50_000
    quick: bool = False
    out: Path = Path("bench-results/routers")
    command: str = "sendingip bench --routers 4"

    @classmethod
    def for_mode(cls, quick: bool, **overrides: Any) -> MultiOptions:
        base = cls(quick=True, accounts=20_000, repeats=1, seconds=2.0, notify_updates=20, flush_rows=10_000)
        if not quick:
            base = cls()
        return cls(**{**base.__dict__, **{k: v for k, v in overrides.items() if v is not None}})


@dataclass
class RouterRun:
    """One router process and what its start cost."""

    index: int
    server: stack.ServerProcess
    load_seconds: float = 0.0
    rss_mib: float = 0.0
    peak_rss_mib: float = 0.0


@dataclass
class LoadRound:
    """Picks/s per router of one h2load round (routers without load have none)."""

    rates: dict[int, float] = field(default_factory=dict)
    router_cpu: float = 0.0
    generator_cpu: float = 0.0
    transactions_per_second: float = 0.0
    lease_requests: float | None = None


def memory_mib(pid: int) -> tuple[float, float]:
    """(resident, peak resident) MiB of ``pid`` from /proc."""
    found = {"VmRSS": 0.0, "VmHWM": 0.0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in found:
            found[name] = float(value.split()[0]) / 1024
    return found["VmRSS"], found["VmHWM"]


def lease_requests(metrics: dict[str, float]) -> float | None:
    """The router's lease requests so far (every label set summed); None when it has no such counter."""
    values = [v for k, v in metrics.items() if k == LEASE_REQUESTS or k.startswith(LEASE_REQUESTS + "{")]
    return sum(values) if values else None


class MultiRouterBench:
    def __init__(self, options: MultiOptions, report: Report, h2load_path: str) -> None:
        self.o = options
        self.report = report
        # The suite's Bench brings the key, the h2load body, the NOTIFY propagation and the
        # history flush; its options say how many accounts and updates those use.
        suite_options = Options(
            accounts=options.accounts,
            repeats=options.repeats,
            seconds=options.seconds,
            notify_updates=options.notify_updates,
            flush_rows=options.flush_rows,
            rebalance=False,
        )
        self.b = Bench(suite_options, report)
        self.b.h2load = h2load_path
        self.routers: list[RouterRun] = []

    # -- setup ----------------------------------------------------------------------------

    def run(self, url: str) -> None:
        self.b.url = url
        _log(f"seeding {self.o.accounts:,} accounts (COPY)")
        version, seconds = asyncio.run(bulk_seed.seed_bulk(url, self.o.accounts))
        self.report.add(
            Figure(
                f"Seeding {self.o.accounts:,} accounts and their routing entries",
                f"{seconds:.1f} s",
                {"seconds": seconds, "version": version},
                note="COPY of accounts and routing_entries in one transaction, versions from routing_clock "
                "(bench/bulk_seed.py); the suite's 85/10/5 mix",
            )
        )
        self.b.env = stack.sendingip_env(url, self.b.tmp / "data", SENDINGIP_HTTP_LISTEN="off")
        self.b.key = stack.create_key(self.b.env)
        try:
            self.start_routers()
            self.load()
            self.propagation()
            asyncio.run(self.b.flush())
        finally:
            for router in self.routers:
                router.server.stop()

    def router_env(self, index: int) -> dict[str, str]:
        """Router ``index``'s environment: its own id and data folder, as on a host of its own."""
        return {
            **self.b.env,
            "SENDINGIP_ROUTER_ID": f"bench-router-{index + 1}",
            "SENDINGIP_DATA_DIR": str(self.b.tmp / f"host-{index + 1}"),
        }

    def start_routers(self) -> None:
        """The first router alone, then the others together, each timed to its loaded table."""
        cmd = [stack.SENDINGIP, "serve", "--no-workers", "--listen", "127.0.0.1:0"]
        for batch in ([0], list(range(1, self.o.routers))):
            _log(f"starting router(s) {[i + 1 for i in batch]} with {self.o.accounts:,} accounts")
            started = time.perf_counter()
            runs = [RouterRun(i, stack.ServerProcess(cmd, self.router_env(i))) for i in batch]
            self.routers += runs
            pending = list(runs)
            while pending:
                for run in list(pending):
                    if self._loaded(run.server, started):
                        run.load_seconds = time.perf_counter() - started
                        run.rss_mib, run.peak_rss_mib = memory_mib(run.server.proc.pid)
                        pending.remove(run)
                time.sleep(0.05)
        alone, others = self.routers[0], [r.load_seconds for r in self.routers[1:]]
        rss = [r.rss_mib for r in self.routers]
        label = "the second" if len(others) == 1 else f"the other {len(others)} started together"
        together_text = f" · {label} {min(others):.1f}–{max(others):.1f} s"
        self.report.add(
            Figure(
                f"Start: each router loads the {self.o.accounts:,}-account table",
                f"alone **{alone.load_seconds:.1f} s**{together_text} · RSS {median(rss):,.0f} MiB each",
                {
                    "load_seconds": [r.load_seconds for r in self.routers],
                    "rss_mib": rss,
                    "peak_rss_mib": [r.peak_rss_mib for r in self.routers],
                },
                note="`serve --no-workers` start → sendingip_routing_loaded = 1 (first load from PostgreSQL, "
                f"unpaced); resident memory then (peak {max(r.peak_rss_mib for r in self.routers):,.0f} MiB)",
            )
        )

    def _loaded(self, server: stack.ServerProcess, started: float) -> bool:
        if server.proc.poll() is not None or time.perf_counter() - started > LOAD_TIMEOUT:
            raise RuntimeError("a router did not load its routing table:\n" + "\n".join(server.lines[-40:]))
        if not server.port or not server.metrics_port:
            return False
        return server.metric("sendingip_routing_loaded") >= 1

    # -- load -----------------------------------------------------------------------------

    def load(self) -> None:
        select, _, request = self.b.bodies()
        for router in self.routers:
            self.b.verify(router.server.target, request, f"router {router.index + 1}")
        _log("warming up (h2load against each router)")
        self.h2load_round(select, [r.index for r in self.routers], seconds=1.0, check=False)
        one: list[LoadRound] = []
        together: list[LoadRound] = []
        everyone = [r.index for r in self.routers]
        for rep in range(self.o.repeats):
            plan = [("one", [0]), ("all", everyone)]
            for name, targets in plan[rep % 2 :] + plan[: rep % 2]:
                found = self.h2load_round(select, targets, seconds=self.o.seconds)
                (one if name == "one" else together).append(found)
                _log(f"{name} rep {rep + 1}: {sum(found.rates.values()):,.0f} picks/s ({found.rates})")
        self.load_figures(one, together)

    def h2load_round(self, body: Path, targets: list[int], *, seconds: float, check: bool = True) -> LoadRound:
        """One h2load per target router, started together; picks/s per router, checked
        against each router's own counter."""
        servers = {i: self.routers[i].server for i in targets}
        before = {i: s.picks() for i, s in servers.items()}
        leases_before = self._lease_requests()
        cpu_before = sum(process_cpu_seconds(r.server.proc.pid) for r in self.routers)
        generators_before = children_cpu_seconds()
        xacts_before = asyncio.run(self._transactions())
        t0 = time.perf_counter()
        procs = {
            i: subprocess.Popen(
                h2load.command(
                    self.b.h2load,
                    f"http://{s.target}{SELECT}",
                    body=body,
                    headers=h2load.grpc_headers(self.b.key),
                    duration=seconds,
                    warm_up=0.0,
                    clients=CONNECTIONS,
                    streams=STREAMS,
                ),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for i, s in servers.items()
        }
        outputs = {i: p.communicate(timeout=seconds + 60)[0] for i, p in procs.items()}
        elapsed = time.perf_counter() - t0
        found = LoadRound(
            router_cpu=(sum(process_cpu_seconds(r.server.proc.pid) for r in self.routers) - cpu_before) / elapsed,
            generator_cpu=(children_cpu_seconds() - generators_before) / elapsed,
            transactions_per_second=(asyncio.run(self._transactions()) - xacts_before) / elapsed,
        )
        leases_after = self._lease_requests()
        if leases_before is not None and leases_after is not None:
            found.lease_requests = (leases_after - leases_before) / elapsed
        for i, text in outputs.items():
            result = h2load.parse_output(text)
            found.rates[i] = result.rps
            if not check:
                continue
            if result.failed + result.errored + result.timeout + result.status_other:
                self.b.error(f"router {i + 1}: h2load saw failed, errored or non-200 requests")
            picks = settled(servers[i]) - before[i]
            if not result.succeeded <= picks <= result.succeeded + CONNECTIONS * STREAMS:
                self.b.error(f"router {i + 1} counted {picks:.0f} picks for {result.succeeded} h2load successes")
        return found

    def _lease_requests(self) -> float | None:
        counts = [lease_requests(r.server.metrics()) for r in self.routers]
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)

    async def _transactions(self) -> float:
        async with connect(self.b.url) as conn:
            value = await conn.fetchval(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
            )
        return float(value or 0)

    def load_figures(self, one: list[LoadRound], together: list[LoadRound]) -> None:
        n = self.o.routers
        single = median(sum(r.rates.values()) for r in one)
        total = median(sum(r.rates.values()) for r in together)
        per_router = {i + 1: median(r.rates[i] for r in together) for i in range(n)}
        cpu_one, cpu_all = median(r.router_cpu for r in one), median(r.router_cpu for r in together)
        gen_one, gen_all = median(r.generator_cpu for r in one), median(r.generator_cpu for r in together)
        per_cpu_one = single / cpu_one if cpu_one else float("nan")
        per_cpu_all = total / cpu_all if cpu_all else float("nan")
        tps = median(r.transactions_per_second for r in together)
        ratio = total / single
        self.report.add(
            Figure(
                f"Unary picks/s: {n} routers side by side vs 1 router (h2load against each)",
                f"{total:,.0f} vs {single:,.0f} picks/s = **{ratio:.2f}×**",
                {
                    "one": [sum(r.rates.values()) for r in one],
                    "all": [sum(r.rates.values()) for r in together],
                    "ratio": ratio,
                    "router_cpu": {"one": cpu_one, "all": cpu_all},
                    "generator_cpu": {"one": gen_one, "all": gen_all},
                    "picks_per_router_cpu_second": {"one": per_cpu_one, "all": per_cpu_all},
                },
                note=f"medians of {self.o.repeats}, {self.o.seconds:g} s each, h2load -c{CONNECTIONS} -m{STREAMS} "
                f"per router, nothing pinned; the routers used {cpu_all:.2f} CPU side by side vs {cpu_one:.2f} "
                f"alone, the generators {gen_all:.2f} vs {gen_one:.2f}; picks per router CPU-second "
                f"{per_cpu_all:,.0f} vs {per_cpu_one:,.0f}",
            )
        )
        self.report.add(
            Figure(
                f"Per-router picks/s ({n} side by side)",
                " · ".join(f"r{k} {v:,.0f}" for k, v in per_router.items()),
                {"per_router": per_router},
                note=f"PostgreSQL meanwhile: {tps:,.0f} transactions/s from {n} routers and the bench "
                "(pg_stat_database; heartbeats, history flushes, leases, polls)",
            )
        )
        self.lease_figure(together, total)

    def lease_figure(self, together: list[LoadRound], total: float) -> None:
        rates = [r.lease_requests for r in together if r.lease_requests is not None]
        data: dict[str, Any] = {"lease_requests_per_second": rates or None}
        if len(rates) < len(together):
            value = "n/a (not built)"
            note = f"the routers expose no {LEASE_REQUESTS}: each enforces limit // N (heartbeats), asking nothing"
        else:
            per_second = median(rates)
            value = f"{per_second:,.1f} lease requests/s over {self.o.routers} routers"
            ratio = f"one per {total / per_second:,.0f} picks" if per_second else "none asked during the runs"
            note = f"{LEASE_REQUESTS} summed over the routers during the side-by-side runs; {ratio}"
        self.report.add(Figure(f"Lease traffic ({self.o.routers} routers under load)", value, data, note=note))

    # -- propagation ----------------------------------------------------------------------

    def propagation(self) -> None:
        targets = [r.server.target for r in self.routers]
        delays, per_router = asyncio.run(self.b._propagation(targets))
        p = percentiles(delays, (50, 99))
        self.report.add(
            Figure(
                f"NOTIFY propagation to {len(targets)} routers ({len(delays)} updates, "
                f"{self.o.accounts:,} entries each)",
                f"p50 {p['p50'] * 1e3:.1f} ms · **p99 {p['p99'] * 1e3:.1f} ms**",
                {"seconds": delays, "per_router_p50": [percentiles(d, (50,))["p50"] for d in per_router]},
                "p99 < 1 s",
                p["p99"] < 1.0,
                "publish commit → every router answers with the new routing_version (polled every ~2 ms); "
                "no load meanwhile",
            )
        )


def run(options: MultiOptions) -> Report:
    started = time.perf_counter()
    report = Report(command=options.command, mode=f"{options.routers} routers" + (", quick" if options.quick else ""))
    h2 = h2load.ensure_h2load()
    bench = MultiRouterBench(options, report, h2)
    with stack.postgres_server() as server_url:
        report.machine = machine(h2, asyncio.run(_postgres_version(server_url)))
        report.setup = [
            f"One database, {options.accounts:,} accounts in 2 regions (the suite's mix: 85% General, 10% "
            "Transition, 5% Dedicated), seeded by COPY",
            f"{options.routers} `sendingip serve --no-workers` processes, each with its own router id, ports and "
            "data folder (hosts simulated on one machine), HTTP door off",
            f"Nothing pinned: {options.routers} routers, their load generators and PostgreSQL share "
            f"{report.machine.get('cpus', '?')} CPUs. With fewer CPUs than routers the side-by-side total "
            "is bounded by the CPUs, not by the routers; read picks per router CPU-second for scaling",
            "Unary picks for one Transition account (the suite's h2load body); every router's pick counter "
            "checked against its h2load's successes",
        ]
        try:
            with stack.bench_database(server_url) as url:
                bench.run(url)
        finally:
            shutil.rmtree(bench.b.tmp, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def run_from_args(args: Any, command: str, echo: Callable[[str], None] = print) -> int:
    given = {name: getattr(args, name) for name in ("routers", "accounts", "repeats", "seconds", "out")}
    options = MultiOptions.for_mode(args.quick, command=command.strip(), **given)
    if options.routers < 2:
        print("sendingip bench: --routers must be at least 2 (one router is the suite's figures)", file=sys.stderr)
        return 2
    try:
        report = run(options)
    except h2load.H2loadMissing as exc:
        print(f"sendingip bench: {exc}", file=sys.stderr)
        return 2
    return write_report(report, options.out, echo)
