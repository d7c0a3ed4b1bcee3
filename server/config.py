"""The server's configuration, read from the environment once."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from server.adapters.config import AdapterConfig
from server.auth.config import AuthConfig
from store.config import DatabaseConfig, env_int, env_seconds


@dataclass(frozen=True)
class RouterConfig:
    """The hot path's knobs (``server/router``); see README.md, "The router: the hot path"."""

    #: ``SENDINGIP_ROUTER_ID``: this router's name in ``router_heartbeats`` and in
    #: ``history_flushes`` (default: host name and process id).
    router_id: str = field(default_factory=lambda: _default_router_id())
    #: ``SENDINGIP_ROUTER_MAX_BATCH``: most requests in one SelectSendingIPBatch, and
    #: most outcomes in one ReportOutcomes; more is INVALID_ARGUMENT.
    max_batch: int = 1000
    #: ``SENDINGIP_MAX_MESSAGE_BYTES``: largest gRPC message received or sent.
    max_message_bytes: int = 4 * 1024 * 1024
    #: ``SENDINGIP_HISTORY_FLUSH_INTERVAL``: seconds between two history flushes.
    flush_interval: float = 1.0
    #: ``SENDINGIP_HISTORY_MAX_PENDING_KEYS``: most (day, account, IP, provider) keys kept
    #: in memory while PostgreSQL is unreachable. At the bound, existing keys keep counting
    #: and picks for new keys are dropped from history (counted in a metric, logged).
    max_pending_keys: int = 1_000_000
    #: ``SENDINGIP_HISTORY_SHUTDOWN_TIMEOUT``: seconds the final flush on SIGTERM may take.
    shutdown_flush_timeout: float = 15.0
    #: ``SENDINGIP_ROUTING_POLL_INTERVAL``: seconds between two polls of ``routing_entries``
    #: (the fallback behind LISTEN/NOTIFY: a missed notification delays at most this long).
    poll_interval: float = 5.0
    #: ``SENDINGIP_HEARTBEAT_INTERVAL``: seconds between two heartbeats; a router whose
    #: heartbeat is older than three intervals no longer counts as live.
    heartbeat_interval: float = 5.0
    #: ``SENDINGIP_METRICS_LISTEN``: host:port of the Prometheus endpoint; ``0`` disables it,
    #: port 0 picks a free port (logged as ``metrics listen=``).
    metrics_listen: str = "127.0.0.1:9464"
    #: ``SENDINGIP_PROVIDER_DOMAINS``: additions to the recipient-domain table, as
    #: ``provider=domain,domain;provider=domain`` (e.g. ``google=example-workspace.com``).
    provider_domains: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RouterConfig:
        return cls(
            router_id=env.get("SENDINGIP_ROUTER_ID") or _default_router_id(),
            max_batch=env_int(env, "SENDINGIP_ROUTER_MAX_BATCH", cls.max_batch, minimum=1),
            max_message_bytes=env_int(env, "SENDINGIP_MAX_MESSAGE_BYTES", cls.max_message_bytes, minimum=1024),
            flush_interval=env_seconds(env, "SENDINGIP_HISTORY_FLUSH_INTERVAL", cls.flush_interval),
            max_pending_keys=env_int(env, "SENDINGIP_HISTORY_MAX_PENDING_KEYS", cls.max_pending_keys, minimum=1),
            shutdown_flush_timeout=env_seconds(env, "SENDINGIP_HISTORY_SHUTDOWN_TIMEOUT", cls.shutdown_flush_timeout),
            poll_interval=env_seconds(env, "SENDINGIP_ROUTING_POLL_INTERVAL", cls.poll_interval),
            heartbeat_interval=env_seconds(env, "SENDINGIP_HEARTBEAT_INTERVAL", cls.heartbeat_interval),
            metrics_listen=env.get("SENDINGIP_METRICS_LISTEN") or cls.metrics_listen,
            provider_domains=env.get("SENDINGIP_PROVIDER_DOMAINS") or "",
        )


@dataclass(frozen=True)
class ServerConfig:
    #: ``SENDINGIP_LISTEN``: host:port of the gRPC server (port 0 picks a free one).
    listen: str = "127.0.0.1:50051"
    #: ``SENDINGIP_DEFAULT_REGION``: region for accounts a request names no region for.
    default_region: str = "us-east"
    #: ``SENDINGIP_AUTO_MIGRATE``: apply pending migrations at start (default on; turn
    #: off where `sendingip migrate` runs as its own deployment step).
    auto_migrate: bool = True
    #: Seconds in-flight RPCs get to finish on SIGTERM before they are cancelled.
    shutdown_grace: float = 5.0
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    router: RouterConfig = field(default_factory=RouterConfig)
    #: API keys and TLS (``server/auth``).
    auth: AuthConfig = field(default_factory=AuthConfig)
    #: The HTTP/JSON, Postfix policy and line-protocol doors (``server/adapters``).
    adapters: AdapterConfig = field(default_factory=lambda: AdapterConfig(http_listen=""))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerConfig:
        env = os.environ if env is None else env
        return cls(
            listen=env.get("SENDINGIP_LISTEN") or cls.listen,
            default_region=env.get("SENDINGIP_DEFAULT_REGION") or cls.default_region,
            auto_migrate=(env.get("SENDINGIP_AUTO_MIGRATE") or "1").lower() not in ("0", "false", "no"),
            database=DatabaseConfig.from_env(env),
            router=RouterConfig.from_env(env),
            auth=AuthConfig.from_env(env),
            adapters=AdapterConfig.from_env(env),
        )


def _default_router_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"
