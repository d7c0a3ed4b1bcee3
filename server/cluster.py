"""What ``sendingip serve --processes N`` decides before it starts anything: how many
processes, and the configuration each one runs with. Pure; ``cli/cluster.py`` starts and
watches the processes, ``server/cluster_ports.py`` holds the ports, and
``server/cluster_metrics.py`` sums their metrics.

Each member is an ordinary router (``cli.serving``) with three differences, all made
here so that they are made once: it binds its ports with SO_REUSEPORT (``share_port``)
at the addresses the parent has already bound and resolved (port 0 becomes the port the
parent got), it exposes its metrics on a private loopback port that the parent scrapes,
and its router id is the cluster's id with the member's index, so a restarted member takes
over its predecessor's heartbeat row and history file instead of counting as one more live
router for three heartbeats (which would shrink every pair's ``limit // N`` share).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from server.adapters.config import split_listen
from server.config import ServerConfig
from store.config import ConfigError

#: The private metrics endpoint of a member: loopback, a free port, scraped by the parent.
MEMBER_METRICS_LISTEN = "127.0.0.1:0"


def member_count(value: str, cpu_count: int | None) -> int:
    """``--processes``: a whole number ≥ 1, or ``auto`` for one per CPU this process may use
    (``cpu_count``: ``cli.serve.allowed_cpus``)."""
    if value.strip().lower() == "auto":
        return max(1, cpu_count or 1)
    if not value.strip().isdigit() or int(value) < 1:
        raise ConfigError(f"--processes {value!r}: expected a whole number ≥ 1 or auto")
    return int(value)


def member_cpu(index: int, allowed: Collection[int]) -> int:
    """``--pin-cpus``: the CPU member ``index`` (1-based) runs on, the ``index``-th of the
    CPUs the cluster may use (``os.sched_getaffinity``), round the list again when there are
    more members than CPUs. A restarted member keeps its index, so its CPU."""
    cpus = sorted(allowed)
    if not cpus:
        raise ConfigError("--pin-cpus: this process may run on no CPU")
    return cpus[(index - 1) % len(cpus)]


def with_port(listen: str, port: int) -> str:
    """``listen`` with its port replaced (``HOST:0`` becomes the port the parent bound)."""
    host, _ = split_listen(listen)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclasses.dataclass(frozen=True)
class Bound:
    """The addresses the parent holds, each with its real port; "" where a door is off."""

    grpc: str
    http: str = ""
    postfix: str = ""
    line: str = ""


def member_config(config: ServerConfig, bound: Bound, index: int, *, base_router_id: str) -> ServerConfig:
    """The configuration of member ``index`` (1-based) of a cluster run with ``config``."""
    metrics = "0" if config.router.metrics_listen in ("", "0") else MEMBER_METRICS_LISTEN
    return dataclasses.replace(
        config,
        listen=bound.grpc,
        share_port=True,
        # The parent migrated once before starting the members.
        auto_migrate=False,
        router=dataclasses.replace(config.router, router_id=f"{base_router_id}-{index}", metrics_listen=metrics),
        adapters=dataclasses.replace(
            config.adapters,
            http_listen=bound.http,
            postfix_listen=bound.postfix,
            line_listen=bound.line,
            share_port=True,
        ),
    )


class RestartBudget:
    """A member that dies is restarted, at most ``limit`` times within ``window`` seconds
    across the cluster; one more death brings the whole cluster down (exit 1), loudly: a
    member that keeps dying is a fault to look at, not to hide. ``now`` is monotonic time."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.restarts: list[float] = []

    def allow(self, now: float) -> bool:
        """Whether one more restart at ``now`` is within the budget (counted when it is)."""
        self.restarts = [t for t in self.restarts if now - t < self.window]
        if len(self.restarts) >= self.limit:
            return False
        self.restarts.append(now)
        return True
