"""g. `sendingip serve --processes 2` against one process: unary picks/s side by side.

One router process answers on one core (grpc.aio's ceiling); the cluster of two
(cli/cluster.py) should answer about twice as many on two cores. Both are measured in one
run, with the same load generator, orders rotated:

* gRPC unary with h2load (16 connections × 16 streams, so that the kernel's SO_REUSEPORT
  spreads connections over both members: it spreads connections, not calls);
* the HTTP/JSON door with wrk (32 connections), the same requests as the door figures.

Placement: the single router stays where the suite pinned it (CPU 0); the load generators
are left unpinned, and so is one cluster, while a second one runs with ``--pin-cpus``
(member i on CPU i), which is the figure held against the goal. On a 2-CPU machine the
generator takes part of the CPU the members need, so the ratio is bounded below 2× by the
generator's own share, which is reported (CPU seconds per second of the run).
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from bench import doors, h2load, seed, stack, wrk
from bench.report import Figure
from bench.stats import median
from bench.suite import SELECT, UNARY_ACCOUNT, Bench, _log

#: The issue's goal: two processes answer at least this many times what one answers.
TARGET_RATIO = 1.8
PROCESSES = 2
H2LOAD_CONNECTIONS, H2LOAD_STREAMS = 16, 16
WRK_CONNECTIONS = 32
N_REQUESTS = 1024
_CLUSTER_SERVING = re.compile(r"cluster serving listen=\S+:(\d+)")


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its direct children (a cluster's members), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile
        # after the command: state, ppid, ..., utime (14th field of the line) and stime (15th)
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def children_cpu_seconds() -> float:
    """CPU seconds used so far by this process's ended children (the load generators)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class ProcessesBench:
    def __init__(self, bench: Bench, router: stack.ServerProcess) -> None:
        self.b = bench
        self.router = router
        self.tmp = bench.tmp / "processes"
        self.tmp.mkdir(exist_ok=True)
        self.script = self.tmp / "select.lua"

    def start_cluster(self, *args: str) -> stack.ServerProcess:
        cmd = [
            stack.SENDINGIP,
            "serve",
            "--no-workers",
            "--processes",
            str(PROCESSES),
            "--listen",
            "127.0.0.1:0",
            *args,
        ]
        cluster = stack.ServerProcess(cmd, self.b.env)
        deadline = time.monotonic() + 60
        try:
            while not any(_CLUSTER_SERVING.search(line) for line in list(cluster.lines)):
                if time.monotonic() > deadline or cluster.proc.poll() is not None:
                    raise RuntimeError("the cluster did not start:\n" + "\n".join(cluster.lines[-40:]))
                time.sleep(0.05)
            cluster.wait_ready()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def run(self) -> None:
        bodies = [doors.json_body(seed.account_id(UNARY_ACCOUNT), m) for m in doors.message_ids(N_REQUESTS)]
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.b.key}"}
        self.script.write_text(wrk.lua_script("/v1/select", bodies, headers))
        cluster = self.start_cluster()
        try:
            pinned = self.start_cluster("--pin-cpus")
        except BaseException:
            cluster.stop()
            raise
        try:
            _log(f"cluster of {PROCESSES} at {cluster.target}, pinned one at {pinned.target}")
            servers = {"one": self.router, "two": cluster, "pinned": pinned}
            grpc_runs = self.compare(servers, self.h2load_run)
            http_runs = self.compare(servers, self.wrk_run) if self.b.wrk else {}
        finally:
            cluster.stop()
            pinned.stop()
        self.figure("gRPC unary (h2load)", grpc_runs, f"h2load -c{H2LOAD_CONNECTIONS} -m{H2LOAD_STREAMS}")
        if http_runs:
            self.figure("HTTP/JSON door (wrk)", http_runs, f"wrk -c{WRK_CONNECTIONS}")

    def compare(
        self, servers: dict[str, stack.ServerProcess], run: Callable[[stack.ServerProcess], tuple[float, int, int]]
    ) -> dict[str, list[float]]:
        """Picks/s of each server, ``repeats`` times, orders rotated; each run's picks checked;
        under ``NAME_cpu`` the CPU seconds per second the server used, under ``NAME_generator``
        those of the load generator."""
        runs: dict[str, list[float]] = {}
        for name in servers:
            runs.update({name: [], f"{name}_cpu": [], f"{name}_generator": []})
        names = list(servers)
        for name in names[1:]:
            run(servers[name])  # warm-up: the members' first connections
        for rep in range(self.b.o.repeats):
            for name in names[rep % len(names) :] + names[: rep % len(names)]:
                server = servers[name]
                before = server.picks()
                used, served = children_cpu_seconds(), process_cpu_seconds(server.proc.pid)
                rate, ok, unseen = run(server)
                runs[f"{name}_generator"].append((children_cpu_seconds() - used) / self.b.o.seconds)
                runs[f"{name}_cpu"].append((process_cpu_seconds(server.proc.pid) - served) / self.b.o.seconds)
                picks = settled(server) - before
                if not ok <= picks <= ok + unseen:
                    self.b.error(f"processes {name}: the router counted {picks:.0f} picks for {ok} answers")
                runs[name].append(rate)
                _log(f"processes {name} rep {rep + 1}: {rate:,.0f} picks/s")
        return runs

    def h2load_run(self, server: stack.ServerProcess) -> tuple[float, int, int]:
        select, _, _ = self.b.bodies()
        cmd = h2load.command(
            self.b.h2load,
            f"http://{server.target}{SELECT}",
            body=select,
            headers=h2load.grpc_headers(self.b.key),
            duration=self.b.o.seconds,
            warm_up=0.0,  # the warm-up is a run of its own: h2load's would count in the router, not in h2load
            clients=H2LOAD_CONNECTIONS,
            streams=H2LOAD_STREAMS,
        )
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=self.b.o.seconds + 60)
        result = h2load.parse_output(done.stdout + done.stderr)
        if result.failed + result.errored + result.timeout + result.status_other:
            self.b.error(f"processes: h2load saw failures against {server.target}")
        return result.rps, result.succeeded, H2LOAD_CONNECTIONS * H2LOAD_STREAMS

    def wrk_run(self, server: stack.ServerProcess) -> tuple[float, int, int]:
        cmd = wrk.command(
            self.b.wrk,
            f"http://127.0.0.1:{server.door_port('http')}/v1/select",
            script=self.script,
            connections=WRK_CONNECTIONS,
            duration=self.b.o.seconds,
        )
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=self.b.o.seconds + 60)
        result = wrk.parse_output(done.stdout + done.stderr)
        if result.non_2xx or result.socket_errors:
            self.b.error(f"processes: wrk saw {result.non_2xx} error statuses, {result.socket_errors} socket errors")
        return result.rps, result.ok, WRK_CONNECTIONS

    def figure(self, what: str, runs: dict[str, list[float]], load: str) -> None:
        one, two, pinned = (median(runs[n]) for n in ("one", "two", "pinned"))
        ratio = pinned / one
        generator = median(runs["pinned_generator"])
        # Picks per CPU-second of the servers themselves: how well the cluster scales where
        # cores are free, apart from what the generator takes on this machine.
        per_cpu = {
            n: median(r / c for r, c in zip(runs[n], runs[f"{n}_cpu"], strict=True) if c)
            for n in ("one", "two", "pinned")
        }
        self.b.report.add(
            Figure(
                f"{what}: serve --processes {PROCESSES} --pin-cpus vs one process",
                f"{pinned:,.0f} vs {one:,.0f} picks/s = **{ratio:.2f}×**; unpinned {two:,.0f} = {two / one:.2f}×",
                {**runs, "ratio": ratio, "generator_cpu": generator, "picks_per_server_cpu_second": per_cpu},
                f"≥ {TARGET_RATIO}×",
                ratio >= TARGET_RATIO,
                f"medians of {self.b.o.repeats}; {load}, {self.b.o.seconds:g} s each; one process on CPU 0, "
                f"the generator unpinned, using {generator:.2f} CPU beside the pinned cluster; servers' CPU "
                f"{median(runs['pinned_cpu']):.2f} (unpinned {median(runs['two_cpu']):.2f}) vs "
                f"{median(runs['one_cpu']):.2f}; picks per server CPU-second {per_cpu['pinned']:,.0f} "
                f"(unpinned {per_cpu['two']:,.0f}) vs {per_cpu['one']:,.0f}",
            )
        )


def settled(server: stack.ServerProcess) -> float:
    """The pick count once it stops moving (answers still in flight when a generator stops)."""
    last = server.picks()
    for _ in range(20):
        time.sleep(0.05)
        now = server.picks()
        if now == last:
            break
        last = now
    return last
