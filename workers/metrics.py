"""The rebalancer's metrics: how long its runs take (and each phase of the last one), what
the last run changed, and the accounts by management type and the IPs by state per region.

The counts are read from PostgreSQL once after each run (``refresh``), by the process that
runs the worker, and kept here until the next; a scrape reads memory only. Only the active
worker has them: a standby shows nothing until it takes over and runs. The entry point
registers ``WorkerCollector`` on the process's metrics endpoint (``cli/serving.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from store import queries
from store.outage import DATABASE_UNAVAILABLE
from workers.rebalance.run import RebalanceReport

log = logging.getLogger(__name__)

#: Run durations: seconds for a few accounts, up to an hour for millions.
RUN_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
MANAGEMENT_TYPES = ("general", "transition", "dedicated")
#: The states of ``ip_inventory`` (store/migrations/0011_ip_inventory.sql), shown at 0 too.
IP_STATES = ("general", "free", "assigned", "draining", "quarantined", "blocked")


class WorkerMetrics:
    def __init__(self) -> None:
        self.runs = 0
        self.last: RebalanceReport | None = None
        self.last_finished = 0.0  # unix time
        self.run_seconds = Histogram(
            "sendingip_rebalance_run_seconds", "Seconds a rebalance run took", buckets=RUN_BUCKETS, registry=None
        )
        self.accounts: dict[str, int] = {}
        self.ips: dict[tuple[str, str], int] = {}

    def observe(self, report: RebalanceReport) -> None:
        self.runs += 1
        self.last = report
        self.last_finished = time.time()
        self.run_seconds.observe(report.seconds)

    async def refresh(self, pool: asyncpg.Pool) -> None:
        """The accounts and IPs counted again; a failure keeps the last counts (logged)."""
        q = queries.load()
        try:
            async with pool.acquire() as conn:
                accounts = await conn.fetch(q["metrics_accounts_by_type"])
                ips = await conn.fetch(q["metrics_ips_by_state"])
        except (*DATABASE_UNAVAILABLE, asyncpg.PostgresError) as exc:
            log.warning("rebalancer metrics: could not count accounts and IPs: %s", exc)
            return
        self.accounts = {r["management_type"]: r["n"] for r in accounts}
        self.ips = {(r["region"], r["state"]): r["n"] for r in ips}


class WorkerCollector:
    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        m, report = self.metrics, self.metrics.last
        if report is None:
            return  # no run yet (a standby): nothing to say
        yield CounterMetricFamily("sendingip_rebalance_runs", "Rebalance runs of this worker", value=m.runs)
        yield from m.run_seconds.collect()
        yield GaugeMetricFamily(
            "sendingip_rebalance_last_run_seconds", "Seconds the last rebalance run took", value=report.seconds
        )
        yield GaugeMetricFamily(
            "sendingip_rebalance_last_run_timestamp_seconds",
            "When the last run ended (unix time)",
            value=m.last_finished,
        )
        phases = GaugeMetricFamily(
            "sendingip_rebalance_last_run_phase_seconds",
            "Seconds of each phase of the last run (a chunk's writes overlap the next chunk's reads)",
            labels=["phase"],
        )
        for phase, seconds in sorted(report.phases.items()):
            phases.add_metric([phase], seconds)
        yield phases
        accounts = GaugeMetricFamily(
            "sendingip_rebalance_last_run_accounts", "Accounts of the last run, by outcome", labels=["outcome"]
        )
        for outcome, n in (("applied", report.applied), ("unchanged", report.unchanged), ("failed", report.failed)):
            accounts.add_metric([outcome], n)
        yield accounts
        changes = GaugeMetricFamily("sendingip_rebalance_last_run_ips", "IPs the last run moved", labels=["change"])
        for change, n in (
            ("assigned", report.ips_assigned),
            ("drained", report.ips_drained),
            ("quarantined", report.ips_quarantined),
            ("back_in_inventory", report.ips_back_in_inventory),
        ):
            changes.add_metric([change], n)
        yield changes
        yield from self._counts()

    def _counts(self) -> Iterator[Any]:
        m = self.metrics
        accounts = GaugeMetricFamily(
            "sendingip_accounts", "Accounts by management type, after the last run", labels=["management_type"]
        )
        for kind in (*MANAGEMENT_TYPES, *sorted(m.accounts.keys() - set(MANAGEMENT_TYPES))):
            accounts.add_metric([kind], m.accounts.get(kind, 0))
        yield accounts
        ips = GaugeMetricFamily(
            "sendingip_ips",
            "IPs by region and state (as ListIPs shows them), after the last run",
            labels=["region", "state"],
        )
        regions = sorted({region for region, _ in m.ips})
        for region in regions:
            for state in (*IP_STATES, *sorted({s for r, s in m.ips if r == region} - set(IP_STATES))):
                ips.add_metric([region, state], m.ips.get((region, state), 0))
        yield ips
