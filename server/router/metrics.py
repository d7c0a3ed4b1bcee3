"""Prometheus metrics of the router, on their own HTTP port.

The hot path only bumps plain integers; this collector reads them when Prometheus
scrapes (from the exporter's thread: reading an int is safe under the GIL), so a pick
pays nothing for its metrics. It reads them through ``RouterState`` (what
``runtime.RouterRuntime`` holds), so that the runtime builds on this module, not the
other way round.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from server.router.engine import Engine
from server.router.heartbeat import Heartbeat
from server.router.history_buffer import HistoryBuffer
from server.router.history_flusher import HistoryFlusher
from server.router.leases import LeaseManager
from server.router.limits import DailyLimits
from server.router.loader import Loader
from server.router.servicer import RouterServicer
from server.router.table import RoutingTable

log = logging.getLogger(__name__)


class RouterState(Protocol):
    """The parts of a running router the metrics read."""

    @property
    def engine(self) -> Engine: ...
    @property
    def servicer(self) -> RouterServicer: ...
    @property
    def limits(self) -> DailyLimits: ...
    @property
    def history(self) -> HistoryBuffer: ...
    @property
    def table(self) -> RoutingTable: ...
    @property
    def flusher(self) -> HistoryFlusher | None: ...
    @property
    def loader(self) -> Loader | None: ...
    @property
    def heartbeat(self) -> Heartbeat | None: ...
    @property
    def leases(self) -> LeaseManager | None: ...
    def table_age(self) -> float: ...
    def stale(self) -> bool: ...


class RouterCollector:
    def __init__(self, runtime: RouterState) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Any]:
        rt = self.runtime
        engine, flusher, loader = rt.engine, rt.flusher, rt.loader
        picks = CounterMetricFamily(
            "sendingip_router_picks", "Picks counted into history, by pool type", labels=["pool_type"]
        )
        picks.add_metric(["general"], engine.picks[1])
        picks.add_metric(["dedicated"], engine.picks[2])
        yield picks
        yield CounterMetricFamily(
            "sendingip_router_overflow",
            "Picks sent elsewhere because a warming pair was at its daily limit",
            value=engine.overflows,
        )
        yield CounterMetricFamily(
            "sendingip_router_over_limit",
            "Picks a pair or IP carried beyond what this router holds of its limit (nowhere else to send them)",
            value=rt.limits.over_limit,
        )
        yield CounterMetricFamily(
            "sendingip_router_retries", "Retry picks (answered, not counted)", value=engine.retries
        )
        yield CounterMetricFamily(
            "sendingip_router_repeats",
            "The same message asked again within 10 minutes without retry (answered as before, not counted)",
            value=engine.repeats,
        )
        yield GaugeMetricFamily(
            "sendingip_router_repeat_window_picks", "Picks remembered to recognise repeats", value=len(engine.recent)
        )
        yield CounterMetricFamily(
            "sendingip_router_repeat_window_forgotten_early",
            "Picks forgotten before 10 minutes because the window was full (SENDINGIP_REPEAT_WINDOW_PICKS)",
            value=engine.recent.forgotten_early,
        )
        yield CounterMetricFamily(
            "sendingip_router_expired_calls",
            "Pick calls whose deadline had passed on arrival (DEADLINE_EXCEEDED, not counted)",
            value=rt.servicer.expired,
        )
        heartbeat, leases = rt.heartbeat, rt.leases
        yield GaugeMetricFamily(
            "sendingip_router_live_routers",
            "Live routers (heartbeats younger than three intervals)",
            value=heartbeat.live if heartbeat else 1,
        )
        if leases is not None:
            yield from _lease_metrics(leases)
        # History
        yield GaugeMetricFamily(
            "sendingip_history_flush_lag_seconds",
            "Age of the oldest unflushed pick",
            value=flusher.lag if flusher else 0.0,
        )
        yield GaugeMetricFamily(
            "sendingip_history_backlog_keys",
            "History keys waiting in memory",
            value=flusher.backlog_keys if flusher else 0,
        )
        yield GaugeMetricFamily(
            "sendingip_history_backlog_max_keys", "Bound on history keys in memory", value=rt.history.max_keys
        )
        yield CounterMetricFamily(
            "sendingip_history_dropped_picks",
            "Picks not recorded in history because the backlog was full",
            value=rt.history.dropped,
        )
        if flusher is not None:
            yield CounterMetricFamily("sendingip_history_flushes", "Successful history flushes", value=flusher.flushes)
            yield CounterMetricFamily(
                "sendingip_history_flush_failures", "Failed history flush attempts", value=flusher.failed_writes
            )
        # Routing table
        table = rt.table
        yield GaugeMetricFamily(
            "sendingip_routing_version", "Highest routing version fully loaded", value=table.version
        )
        yield GaugeMetricFamily(
            "sendingip_routing_accounts", "Accounts in the routing table", value=len(table.accounts)
        )
        yield GaugeMetricFamily(
            "sendingip_routing_table_age_seconds",
            "Seconds since the table was last confirmed current with PostgreSQL",
            value=rt.table_age(),
        )
        yield GaugeMetricFamily(
            "sendingip_routing_table_stale",
            "1 while serving a table PostgreSQL has not confirmed (e.g. from the disk snapshot)",
            value=1 if rt.stale() else 0,
        )
        yield GaugeMetricFamily(
            "sendingip_routing_loaded", "1 once a routing table is loaded", value=1 if table.loaded else 0
        )
        yield GaugeMetricFamily(
            "sendingip_resting_pairs",
            "(IP, provider) pairs the same-day breaker rests now (no dedicated picks; rule 11)",
            value=sum(len(pairs) for pairs in table.rests.values()),
        )
        if loader is not None:
            yield GaugeMetricFamily(
                "sendingip_routing_reload_seconds",
                "Duration of the last reload that changed entries",
                value=loader.last_reload_seconds,
            )
            yield CounterMetricFamily("sendingip_routing_reloads", "Reloads that changed entries", value=loader.reloads)
            yield CounterMetricFamily(
                "sendingip_routing_sync_errors", "Failed syncs with PostgreSQL", value=loader.errors
            )


def _lease_metrics(leases: LeaseManager) -> Iterator[Any]:
    """Budget leasing (docs/router.md, "Daily limits")."""
    yield CounterMetricFamily(
        "sendingip_lease_requests",
        "Statements asking PostgreSQL for more of the daily limits (one per round, for every pair wanting)",
        value=leases.requests,
    )
    yield CounterMetricFamily(
        "sendingip_leased_picks", "Picks of daily limits granted to this router", value=leases.leased_picks
    )
    yield CounterMetricFamily(
        "sendingip_lease_given_back_picks",
        "Picks of daily limits given back unused (idle pairs, clean stop)",
        value=leases.given_back,
    )
    yield CounterMetricFamily(
        "sendingip_lease_refusals",
        "Pairs or IPs asked for and granted nothing (their limit for the hour is all leased)",
        value=leases.refusals,
    )
    yield CounterMetricFamily(
        "sendingip_lease_failures", "Lease rounds that failed (PostgreSQL unreachable)", value=leases.failures
    )


class MetricsEndpoint:
    """An HTTP server for one collector's metrics; ``port`` is the bound one (0 when disabled)."""

    def __init__(self, collector: Collector, listen: str) -> None:
        self.port = 0
        self._server: Any = None
        self._registry = CollectorRegistry(auto_describe=False)
        if listen in ("", "0"):
            return
        host, _, port = listen.rpartition(":")
        registry = self._registry
        registry.register(collector)
        try:
            self._server, _thread = start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
        except (OSError, ValueError) as exc:
            # The hot path must not die for its metrics: say so loudly and go on.
            log.error("metrics disabled: cannot listen on %s: %s", listen, exc)
            return
        self.port = int(self._server.server_port)
        log.info("metrics listen=%s:%d", host or "127.0.0.1", self.port)

    def add(self, collector: Collector) -> None:
        """Another collector of this process's metrics (RPC latencies, the rebalancer's)."""
        if self._server is not None:
            self._registry.register(collector)

    def close(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.shutdown()
            server.server_close()


class MetricsServer(MetricsEndpoint):
    """The router's exporter."""

    def __init__(self, runtime: RouterState, listen: str) -> None:
        super().__init__(RouterCollector(runtime), listen)
