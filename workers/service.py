"""The worker loop: be the active rebalancer (or its hot standby) and rebalance every
few minutes and right after each UTC day boundary.

``stop()`` (SIGTERM) ends a rebalance in progress between accounts: the transactions under
way commit, no other begins, and the worker exits within about one account's time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg

from store.config import env_seconds
from store.outage import DATABASE_UNAVAILABLE, Outage
from workers.leader import LEADER, RUN, SessionLock
from workers.metrics import WorkerMetrics
from workers.rebalance.run import Progress, RebalanceReport, rebalance

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    #: ``SENDINGIP_REBALANCE_INTERVAL``: seconds between rebalances of the active worker.
    interval: float = 300.0
    #: ``SENDINGIP_STANDBY_POLL``: seconds between a standby's attempts to take over.
    standby_poll: float = 2.0
    #: ``SENDINGIP_DEFAULT_REGION``: region for accounts that first appear in history.
    default_region: str = "us-east"
    #: ``SENDINGIP_WORKER_METRICS_LISTEN``: host:port of ``sendingip worker``'s own Prometheus
    #: endpoint (``workers/metrics.py``); ``0`` (the default) serves none. ``serve`` shows the
    #: rebalancer's metrics on its own endpoint instead.
    metrics_listen: str = "0"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerConfig:
        env = os.environ if env is None else env
        return cls(
            interval=env_seconds(env, "SENDINGIP_REBALANCE_INTERVAL", cls.interval),
            standby_poll=env_seconds(env, "SENDINGIP_STANDBY_POLL", cls.standby_poll),
            default_region=env.get("SENDINGIP_DEFAULT_REGION") or cls.default_region,
            metrics_listen=env.get("SENDINGIP_WORKER_METRICS_LISTEN") or cls.metrics_listen,
        )


def utc_today() -> date:
    return datetime.now(UTC).date()


class Worker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        url: str,
        config: WorkerConfig,
        today: Callable[[], date] = utc_today,
        *,
        stop: asyncio.Event | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.pool = pool
        self.leader = SessionLock(url, LEADER)
        self.run_lock = SessionLock(url, RUN)
        self.config = config
        self.today = today
        self.last_report: RebalanceReport | None = None
        #: The runs' durations and what they left (``workers/metrics.py``), for a metrics endpoint.
        self.metrics = metrics or WorkerMetrics()
        #: Set by ``stop()``, or by whoever passed it in (the entry point's signal handler).
        self._stop = stop or asyncio.Event()

    def stop(self) -> None:
        """Idempotent; a rebalance in progress ends after the accounts it is applying."""
        self._stop.set()

    async def run(self) -> None:
        outage = Outage(log, "worker")
        try:
            role = ""  # logged when it changes: which worker is active is an operator's first question
            while not self._stop.is_set():
                try:
                    if await self._lead(outage):
                        if role != "active":
                            role = "active"
                            log.info("worker active: holds the rebalancer lock")
                        await self.rebalance_once()
                        await self._sleep(self._until_next_run())
                    else:
                        if role != "standby":
                            role = "standby"
                            log.info(
                                "worker standby: another worker is active; trying every %.1fs", self.config.standby_poll
                            )
                        await self._sleep(self.config.standby_poll)
                except DATABASE_UNAVAILABLE as exc:
                    outage.failed(exc, f"trying again every {self.config.standby_poll:.1f}s")
                    await self._sleep(self.config.standby_poll)
        finally:
            await self.leader.release()

    async def _lead(self, outage: Outage) -> bool:
        """True while this worker holds the leader lock; PostgreSQL answering ends ``outage``."""
        if not await self.leader.try_acquire():
            outage.recovered()  # it answered: the lock is someone else's
            return False
        if await self.leader.still_held():
            outage.recovered()
            return True
        return False

    async def rebalance_once(
        self, day: date | None = None, lock_timeout: float = 600.0, progress: Progress | None = None
    ) -> RebalanceReport | None:
        """One rebalance under the run lock; ``None`` when the lock did not come in time."""
        if not await self.run_lock.acquire(lock_timeout, cancel=self._stop):
            return None
        try:
            report = await rebalance(
                self.pool,
                day or self.today(),
                default_region=self.config.default_region,
                progress=progress,
                stop=self._stop,
            )
        finally:
            await self.run_lock.release()
        self.last_report = report
        log.info(report.summary())
        self.metrics.observe(report)
        await self.metrics.refresh(self.pool)
        return report

    def _until_next_run(self) -> float:
        now = datetime.now(UTC)
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
        return max(0.0, min(self.config.interval, (midnight - now).total_seconds() + 1.0))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
