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
    """The hot path's knobs (``server/router``); see docs/router.md."""

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
    #: ``SENDINGIP_HISTORY_SHUTDOWN_TIMEOUT``: seconds the final flush on SIGTERM may take
    #: (never past ``SENDINGIP_SHUTDOWN_DEADLINE``, less a second for the history file).
    shutdown_flush_timeout: float = 15.0
    #: ``SENDINGIP_ROUTING_POLL_INTERVAL``: seconds between two polls of ``routing_entries``
    #: (the fallback behind LISTEN/NOTIFY: a missed notification delays at most this long).
    poll_interval: float = 5.0
    #: ``SENDINGIP_HEARTBEAT_INTERVAL``: seconds between two heartbeats; a router whose
    #: heartbeat is older than three intervals no longer counts as live.
    heartbeat_interval: float = 5.0
    #: ``SENDINGIP_LEASE_INTERVAL``: seconds between two rounds of budget leasing (the daily
    #: limits shared by the routers, docs/router.md); a pick that finds nothing left asks sooner.
    lease_interval: float = 1.0
    #: ``SENDINGIP_LEASE_MAX_CHUNK``: most picks of one pair (or IP capacity) a router holds
    #: unused; a router that is killed takes at most this many of each with it for the day.
    lease_max_chunk: int = 1000
    #: ``SENDINGIP_METRICS_LISTEN``: host:port of the Prometheus endpoint; ``0`` disables it,
    #: port 0 picks a free port (logged as ``metrics listen=``).
    metrics_listen: str = "127.0.0.1:9464"
    #: ``SENDINGIP_PROVIDER_DOMAINS``: additions to the recipient-domain table, as
    #: ``provider=domain,domain;provider=domain`` (e.g. ``google=example-workspace.com``).
    provider_domains: str = ""
    #: ``SENDINGIP_REPEAT_WINDOW_PICKS``: most picks remembered so that the same message
    #: asked again within 10 minutes is not counted again (about 95 bytes each: the default
    #: holds 10 minutes at 1,666 picks/s in 95 MB; past it the window is shorter). 0: off.
    repeat_window_picks: int = 1_000_000

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
            lease_interval=env_seconds(env, "SENDINGIP_LEASE_INTERVAL", cls.lease_interval, minimum=0.01),
            lease_max_chunk=env_int(env, "SENDINGIP_LEASE_MAX_CHUNK", cls.lease_max_chunk, minimum=1),
            metrics_listen=env.get("SENDINGIP_METRICS_LISTEN") or cls.metrics_listen,
            provider_domains=env.get("SENDINGIP_PROVIDER_DOMAINS") or "",
            repeat_window_picks=env_int(env, "SENDINGIP_REPEAT_WINDOW_PICKS", cls.repeat_window_picks, minimum=0),
        )


@dataclass(frozen=True)
class GrpcBounds:
    """What any client that reaches the gRPC port can make the router hold, and for how
    long (docs/operations.md: Configuration; SPEC §3 "Bounds"). Each closes one way to exhaust the
    router's memory or descriptors without a key; ``server.app`` and ``server.admission``
    apply them."""

    #: ``SENDINGIP_GRPC_MAX_CONNECTIONS``: most open connections; one more is closed as
    #: soon as it is accepted (a router also needs descriptors for PostgreSQL and the doors).
    max_connections: int = 4096
    #: ``SENDINGIP_GRPC_MAX_STREAMS_PER_CONNECTION``: most calls in progress on one
    #: connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); a client queues the rest.
    max_streams_per_connection: int = 100
    #: ``SENDINGIP_GRPC_MAX_CONCURRENT_RPCS``: most calls in progress in the router; one
    #: more is answered RESOURCE_EXHAUSTED.
    max_concurrent_rpcs: int = 5000
    #: ``SENDINGIP_GRPC_MAX_WAITING_REQUESTS``: most calls whose request has not arrived
    #: whole yet; one more closes the call that has waited longest (RESOURCE_EXHAUSTED).
    max_waiting_requests: int = 1000
    #: ``SENDINGIP_GRPC_MAX_KEYLESS_STREAMS``: most open streams of the services that need
    #: no key (health ``Watch``, reflection); one more is RESOURCE_EXHAUSTED.
    max_keyless_streams: int = 100
    #: ``SENDINGIP_GRPC_REQUEST_TIMEOUT``: seconds a call's request may take to arrive
    #: after its headers; then DEADLINE_EXCEEDED.
    request_timeout: float = 10.0
    #: ``SENDINGIP_GRPC_HANDSHAKE_TIMEOUT``: seconds a new connection has to finish its TLS
    #: handshake and send the HTTP/2 preface; then it is closed.
    handshake_timeout: float = 10.0
    #: ``SENDINGIP_GRPC_IDLE_TIMEOUT``: seconds a connection with no call in progress stays
    #: open (GOAWAY; a client reconnects by itself at its next call).
    idle_timeout: float = 300.0
    #: ``SENDINGIP_GRPC_MAX_CONNECTION_AGE``: seconds a connection lives (grpc adds ±10%),
    #: then GOAWAY; its calls in progress get ``max_connection_age_grace`` more.
    max_connection_age: float = 3600.0
    #: ``SENDINGIP_GRPC_MAX_CONNECTION_AGE_GRACE``: seconds calls in progress (a stream,
    #: say) get after the GOAWAY of an aged connection, before it is closed.
    max_connection_age_grace: float = 30.0
    #: ``SENDINGIP_GRPC_MIN_PING_INTERVAL``: the shortest interval allowed between a
    #: client's keepalive pings; a client that pings more often is sent GOAWAY.
    min_ping_interval: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GrpcBounds:
        return cls(
            max_connections=env_int(env, "SENDINGIP_GRPC_MAX_CONNECTIONS", cls.max_connections, minimum=1),
            max_streams_per_connection=env_int(
                env, "SENDINGIP_GRPC_MAX_STREAMS_PER_CONNECTION", cls.max_streams_per_connection, minimum=1
            ),
            max_concurrent_rpcs=env_int(env, "SENDINGIP_GRPC_MAX_CONCURRENT_RPCS", cls.max_concurrent_rpcs, minimum=1),
            max_waiting_requests=env_int(
                env, "SENDINGIP_GRPC_MAX_WAITING_REQUESTS", cls.max_waiting_requests, minimum=1
            ),
            max_keyless_streams=env_int(env, "SENDINGIP_GRPC_MAX_KEYLESS_STREAMS", cls.max_keyless_streams, minimum=1),
            request_timeout=env_seconds(env, "SENDINGIP_GRPC_REQUEST_TIMEOUT", cls.request_timeout),
            handshake_timeout=env_seconds(env, "SENDINGIP_GRPC_HANDSHAKE_TIMEOUT", cls.handshake_timeout),
            idle_timeout=env_seconds(env, "SENDINGIP_GRPC_IDLE_TIMEOUT", cls.idle_timeout),
            max_connection_age=env_seconds(env, "SENDINGIP_GRPC_MAX_CONNECTION_AGE", cls.max_connection_age),
            max_connection_age_grace=env_seconds(
                env, "SENDINGIP_GRPC_MAX_CONNECTION_AGE_GRACE", cls.max_connection_age_grace
            ),
            min_ping_interval=env_seconds(env, "SENDINGIP_GRPC_MIN_PING_INTERVAL", cls.min_ping_interval),
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
    #: Seconds in-flight RPCs get to finish on SIGTERM before they are cancelled (at most
    #: half of what is left of ``shutdown_deadline``).
    shutdown_grace: float = 5.0
    #: ``SENDINGIP_SHUTDOWN_DEADLINE``: seconds from SIGTERM to the end of the process,
    #: whatever PostgreSQL does; every step of the stop gets what is left of it, and history
    #: not written by then is on disk before it. Below a container's default grace (10 s).
    shutdown_deadline: float = 9.0
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    router: RouterConfig = field(default_factory=RouterConfig)
    #: API keys and TLS (``server/auth``).
    auth: AuthConfig = field(default_factory=AuthConfig)
    #: The HTTP/JSON, Postfix policy and line-protocol doors (``server/adapters``).
    adapters: AdapterConfig = field(default_factory=lambda: AdapterConfig(http_listen=""))
    #: What a client of the gRPC port can hold (connections, streams, timeouts).
    grpc: GrpcBounds = field(default_factory=GrpcBounds)
    #: Bind the gRPC port with SO_REUSEPORT, sharing it with other processes. Off, a second
    #: ``serve`` on a port another process holds fails to start (SPEC §4: no silent port
    #: sharing). For the sibling processes of one cluster (``serve --processes N``), which
    #: set it themselves: no environment variable, so that no operator turns it on by mistake.
    share_port: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerConfig:
        env = os.environ if env is None else env
        return cls(
            listen=env.get("SENDINGIP_LISTEN") or cls.listen,
            default_region=env.get("SENDINGIP_DEFAULT_REGION") or cls.default_region,
            auto_migrate=(env.get("SENDINGIP_AUTO_MIGRATE") or "1").lower() not in ("0", "false", "no"),
            shutdown_deadline=env_seconds(env, "SENDINGIP_SHUTDOWN_DEADLINE", cls.shutdown_deadline),
            database=DatabaseConfig.from_env(env),
            router=RouterConfig.from_env(env),
            auth=AuthConfig.from_env(env),
            adapters=AdapterConfig.from_env(env),
            grpc=GrpcBounds.from_env(env),
        )


def _default_router_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"
