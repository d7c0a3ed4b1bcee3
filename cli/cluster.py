"""`sendingip serve --processes N`: N router processes on the same ports, watched by a parent.

grpc.aio answers on one core (docs/benchmarks.md): a second core needs a second process.
The parent does what must happen once per host, and the members (spawned, not forked:
grpc's threads do not survive a fork) are ordinary routers (``cli.serving``):

* the parent holds every port first (``server/cluster_ports.py``: a stranger on the port
  still fails to bind) and gives the members the real ports (port 0 works);
* it starts the embedded PostgreSQL when there is no ``SENDINGIP_DATABASE_URL``, applies
  the migrations, and runs the workers (one rebalancer for the host; the members run none);
* it answers ``SENDINGIP_METRICS_LISTEN`` with the members' metrics summed
  (``server/cluster_metrics.py``), each member exposing its own on a private loopback port;
* on SIGTERM or SIGINT it sends SIGTERM to every member, each of which stops as a single
  router does (final history flush, or the history file), and waits for them;
* a member that dies is restarted under the same router id (its history file and heartbeat
  row are taken over); more than ``RESTARTS``
  restarts within ``RESTART_WINDOW`` seconds, or a member that dies before the cluster has
  started, stops the whole cluster with exit code 1 (2 when a member could not listen).

Each member ends with its parent (``PR_SET_PDEATHSIG``): a parent killed with SIGKILL
leaves no members holding the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import replace
from multiprocessing.process import BaseProcess
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from cli import local_server
from cli import serving as serve
from cli.runtime import opened, run_async, until_signalled
from server import app
from server.adapters.listener import ListenError
from server.cluster import Bound, RestartBudget, member_config, member_cpu, with_port
from server.cluster_metrics import ClusterSum
from server.cluster_ports import PortHold
from server.config import ServerConfig
from server.router.metrics import MetricsEndpoint
from server.shutdown import Deadline
from workers.metrics import WorkerCollector

log = logging.getLogger(__name__)

#: Restarts allowed within ``RESTART_WINDOW`` seconds before the cluster stops itself.
RESTARTS = 3
RESTART_WINDOW = 60.0
#: Seconds between two looks at the members.
TICK = 0.1
#: Seconds a member's metrics may take to answer the parent's scrape.
SCRAPE_TIMEOUT = 2.0
#: Seconds past a member's own shutdown deadline after which the parent kills it.
STOP_MARGIN = 2.0


def command(
    config: ServerConfig,
    processes: int,
    *,
    workers: bool,
    log_level: str,
    started: float,
    cpus: Sequence[int] | None = None,
) -> int:
    """Hold the ports, run the cluster until SIGTERM/SIGINT; the exit code. ``cpus``
    (``--pin-cpus``): the CPUs the members are pinned to, one each (``member_cpu``)."""
    app.raise_descriptor_limit(config)
    with opened(config.database) as db:  # located by cli/serve.py
        config = replace(config, database=replace(config.database, url=db.url))
        holds: list[PortHold] = []
        try:
            bound = _hold(config, holds)
        except ListenError as exc:
            for hold in holds:
                hold.close()
            log.error("%s", exc)
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            cluster = Cluster(config, bound, processes, log_level, started, cpus=cpus)
            return run_async(until_signalled(lambda stop: cluster.run(stop, workers=workers)))
        finally:
            local_server.remove(config.database.data_dir)
            for hold in holds:  # only now: every member has ended
                hold.close()


def _hold(config: ServerConfig, holds: list[PortHold]) -> Bound:
    """Every port the members will listen on, held by the parent (added to ``holds``)."""

    def hold(what: str, listen: str) -> str:
        if not listen:
            return ""
        held = PortHold(what, listen)
        holds.append(held)
        return with_port(listen, held.port)

    doors = config.adapters
    return Bound(
        grpc=hold("gRPC server", config.listen),
        http=hold("http door", doors.http_listen),
        postfix=hold("postfix door", doors.postfix_listen),
        line=hold("line door", doors.line_listen),
    )


class Member:
    """One router process of the cluster, started again under the same index when it dies."""

    def __init__(self, index: int, config: ServerConfig, log_level: str, cpu: int | None = None) -> None:
        self.index = index
        self.config = config
        self.log_level = log_level
        #: ``--pin-cpus``: the one CPU this member runs on, in every incarnation.
        self.cpu = cpu
        self.incarnation = 0
        self.process: BaseProcess | None = None
        self._reports: multiprocessing.connection.Connection | None = None
        #: What the member said once serving: pid, router_id, metrics_port.
        self.report: dict[str, Any] | None = None

    def start(self) -> None:
        self.incarnation += 1
        context = multiprocessing.get_context("spawn")
        reader, writer = context.Pipe(duplex=False)
        self.process = context.Process(
            target=member_main,
            args=(self.config, self.index, self.log_level, writer, os.getpid(), self.cpu),
            name=f"sendingip-member-{self.index}",
        )
        self.process.start()
        writer.close()
        if self._reports is not None:
            self._reports.close()  # the previous incarnation's
        self._reports, self.report = reader, None

    def poll(self) -> None:
        """Read the member's report once it has sent it."""
        if self.report is None and self._reports is not None:
            with contextlib.suppress(EOFError, OSError):
                if self._reports.poll():
                    self.report = self._reports.recv()

    @property
    def ended(self) -> bool:
        return self.process is not None and self.process.exitcode is not None

    @property
    def metrics_port(self) -> int:
        return int(self.report["metrics_port"]) if self.report and not self.ended else 0

    @property
    def stopped_cleanly(self) -> bool:
        code = self.process.exitcode if self.process is not None else 0
        return code == 0 or (code == -signal.SIGTERM and self.report is None)

    def terminate(self) -> None:
        if self.process is not None and self.process.exitcode is None and self.process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)

    def kill(self) -> None:
        if self.process is not None and self.process.exitcode is None:
            self.process.kill()

    def describe(self) -> str:
        pid = self.process.pid if self.process is not None else None
        return f"member={self.index} pid={pid} router_id={self.config.router.router_id}"


class Cluster:
    def __init__(
        self,
        config: ServerConfig,
        bound: Bound,
        processes: int,
        log_level: str,
        started: float,
        *,
        cpus: Sequence[int] | None = None,
    ) -> None:
        self.config = config
        self.bound = bound
        self.started = started
        self.metrics_port = 0
        base = config.router.router_id
        self.members = [
            Member(
                i,
                member_config(config, bound, i, base_router_id=base),
                log_level,
                member_cpu(i, cpus) if cpus is not None else None,
            )
            for i in range(1, processes + 1)
        ]
        self.budget = RestartBudget(RESTARTS, RESTART_WINDOW)
        self.restarts = 0

    async def run(self, stop: asyncio.Event, *, workers: bool) -> int:
        assert self.config.database.url is not None
        if self.config.auto_migrate:
            await serve.migrate_at_start(self.config.database.url)
        if stop.is_set():
            return 0  # stopped while migrating: nothing started yet
        # Before the members: its "metrics listen=" is the first such line of the log.
        metrics = ClusterMetrics(self, self.config.router.metrics_listen)
        self.metrics_port = metrics.port
        worker = serve.InProcessWorker(self.config) if workers else None
        if worker is not None:  # the rebalancer runs here, beside the members: its metrics too
            metrics.add(WorkerCollector(worker.metrics))
        try:
            for member in self.members:
                member.start()
            worker_task = worker.start() if worker is not None else None
            code = await self._watch(stop, worker_task)
        finally:
            stopped = await self._stop(worker)
            metrics.close()
        if worker is not None:
            worker.raise_failure()  # loudly, as a single router does
        return code or stopped

    async def _watch(self, stop: asyncio.Event, worker: asyncio.Task[None] | None) -> int:
        """Until ``stop`` (0) or a fault that stops the cluster (its exit code)."""
        started = False
        while not stop.is_set():
            for member in self.members:
                if member.report is None:
                    member.poll()
                    if member.report is not None:
                        pinned = "" if member.cpu is None else f" cpu={member.cpu}"
                        log.info("cluster %s serving metrics_port=%d%s", member.describe(), member.metrics_port, pinned)
                if member.ended and (code := self._died(member, started)) is not None:
                    return code
            if not started and all(m.report is not None for m in self.members):
                started = True
                ids = ",".join(m.config.router.router_id for m in self.members)
                log.info(
                    "cluster serving listen=%s processes=%d router_ids=%s", self.bound.grpc, len(self.members), ids
                )
                self._announce()
            if worker is not None and worker.done():
                log.error("the workers ended; stopping the cluster")
                return 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), TICK)
        return 0

    def _announce(self) -> None:
        """Every address the cluster listens on: printed, and written down for the client commands."""
        bound = self.bound
        found = {"grpc": bound.grpc, "http": bound.http, "postfix": bound.postfix, "line": bound.line}
        addresses = {kind: where for kind, where in found.items() if where}
        if self.metrics_port:
            addresses["metrics"] = local_server.address(self.config.router.metrics_listen, self.metrics_port)
        folder = self.config.database.data_dir
        local_server.write(folder, addresses)
        print(local_server.banner(addresses, time.monotonic() - self.started, folder), flush=True)

    def _died(self, member: Member, started: bool) -> int | None:
        """A member ended on its own: restart it (None), or the exit code that stops the cluster."""
        assert member.process is not None
        code = member.process.exitcode
        if not started:
            log.error("cluster %s exited with code %s while starting; stopping the cluster", member.describe(), code)
            return 2 if code == 2 else 1
        if not self.budget.allow(time.monotonic()):
            log.error(
                "cluster %s died (exit code %s): more than %d restarts within %.0fs; stopping the cluster",
                member.describe(),
                code,
                RESTARTS,
                RESTART_WINDOW,
            )
            return 1
        log.error("cluster %s died (exit code %s); restarting it", member.describe(), code)
        self.restarts += 1
        member.start()
        return None

    async def _stop(self, worker: serve.InProcessWorker | None) -> int:
        """SIGTERM to every member, then wait for each (SIGKILL past its deadline); 1 when
        one did not end cleanly."""
        for member in self.members:
            member.terminate()
        worker_stopped = asyncio.create_task(worker.stop(Deadline(self.config.shutdown_deadline))) if worker else None
        await self._wait_ended(self.config.shutdown_deadline + serve.WATCHDOG_MARGIN + STOP_MARGIN)
        for member in self.members:
            if member.process is not None and not member.ended:
                log.error("cluster %s still running after its shutdown deadline; killing it", member.describe())
                member.kill()
                await asyncio.to_thread(member.process.join, 5)
        if worker_stopped is not None:
            await worker_stopped
        codes = {m.index: m.process.exitcode if m.process else None for m in self.members}
        # A member SIGTERMed before it served (still importing, say) had nothing to flush.
        clean = all(m.stopped_cleanly for m in self.members)
        (log.info if clean else log.error)("cluster stopped exit_codes=%s", codes)
        return 0 if clean else 1

    async def _wait_ended(self, seconds: float) -> None:
        """Until every member has ended, at most ``seconds``."""
        limit = time.monotonic() + seconds
        while left := [m.process.sentinel for m in self.members if m.process is not None and not m.ended]:
            remaining = limit - time.monotonic()
            if remaining <= 0:
                return
            await asyncio.to_thread(multiprocessing.connection.wait, left, remaining)


class ClusterMetrics(MetricsEndpoint):
    """The parent's metrics endpoint: the members' metrics, scraped when it is scraped."""

    def __init__(self, cluster: Cluster, listen: str) -> None:
        super().__init__(ClusterCollector(cluster), listen)


class ClusterCollector:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.sum = ClusterSum()
        self._lock = threading.Lock()  # two scrapes at once

    def collect(self) -> Iterator[Any]:
        members = self.cluster.members
        with self._lock:
            answered = set()
            for index, incarnation, text in _scrape(members):
                self.sum.observe(index, incarnation, text)
                answered.add(index)
            families = self.sum.families(answered)
        yield from families
        yield GaugeMetricFamily(
            "sendingip_cluster_processes", "Router processes of the cluster (serve --processes)", value=len(members)
        )
        yield GaugeMetricFamily(
            "sendingip_cluster_processes_answering",
            "Router processes whose metrics answered this scrape",
            value=len(answered),
        )
        yield CounterMetricFamily(
            "sendingip_cluster_restarts", "Router processes restarted after they died", value=self.cluster.restarts
        )


def _scrape(members: Sequence[Member]) -> Iterator[tuple[int, int, str]]:
    for member in list(members):
        port, incarnation = member.metrics_port, member.incarnation
        if not port:
            continue
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=SCRAPE_TIMEOUT) as response:
                text = response.read().decode()
        except OSError as exc:
            log.warning("cluster %s: metrics did not answer: %s", member.describe(), exc)
            continue
        yield member.index, incarnation, text


# -- in the member process ---------------------------------------------------------------


def member_main(
    config: ServerConfig,
    index: int,
    log_level: str,
    reports: multiprocessing.connection.Connection,
    parent: int,
    cpu: int | None = None,
) -> None:
    """A member's whole life: a router, which tells the parent when it serves."""
    if cpu is not None:  # first: the threads grpc and asyncpg start later inherit it
        os.sched_setaffinity(0, {cpu})
    logging.basicConfig(
        level=log_level.upper(),
        format=f"%(asctime)s %(levelname)s member-{index} %(name)s %(message)s",
        stream=sys.stderr,
    )
    _end_with_parent(parent)
    app.raise_descriptor_limit(config)

    def report(parts: app.Assembly) -> None:
        metrics = parts.router.metrics
        port = metrics.port if metrics is not None else 0
        reports.send({"pid": os.getpid(), "router_id": config.router.router_id, "metrics_port": port})
        reports.close()

    sys.exit(serve.serve(config, workers=False, on_serving=report))


def _end_with_parent(parent: int) -> None:
    """SIGTERM this member when the parent ends, however it ends (Linux ``prctl``)."""
    pr_set_pdeathsig = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return  # not Linux: a parent killed with SIGKILL leaves its members running
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)  # the parent ended before prctl took effect
