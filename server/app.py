"""Assembles the server: the one place that wires a ``sendingip serve`` together.

``Assembly.start`` builds access control and TLS (``server.auth``) once and hands them to
the router, the Management service and, through their servicers, the doors; then the
gRPC server (``create_server``: the services it is given, health, reflection, its bounds;
``App.start``/``App.stop`` own its lifecycle). Services register themselves through
``add_to_server`` callables, so ``create_server`` does not need to know them.

Bounds (issue 13: a few thousand idle connections or half-open streams, from anyone who
can reach the port, took hundreds of MB that were never given back): grpc core caps the
connections, the streams on each, and how long a connection may sit before its HTTP/2
preface, idle, or at all (``channel_options``); ``server.admission`` caps how long and how
many calls may wait for their request; grpc.aio's ``maximum_concurrent_rpcs`` caps the
calls in progress. The port is bound without SO_REUSEPORT unless ``share_port``: grpc's
default would let a second ``serve`` start silently and take half the traffic (SPEC §4).
Only the members of one cluster (``serve --processes N``) share it, behind a guard socket
their parent holds (``server/cluster_ports.py``: a stranger still fails to bind).
"""

from __future__ import annotations

import errno
import logging
import resource
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from sendingip.v1 import management_pb2, router_pb2
from server.adapters.config import split_listen
from server.adapters.listener import ListenError
from server.adapters.runtime import Doors
from server.admission import Admission, Bounded
from server.auth.runtime import AuthRuntime
from server.auth.tls import server_credentials
from server.config import GrpcBounds, ServerConfig
from server.decoding import SafeDecoding
from server.management.runtime import ManagementRuntime
from server.router.runtime import RouterRuntime
from server.rpc_metrics import Latencies, Timed

log = logging.getLogger(__name__)


class _ClientGoneFilter(logging.Filter):
    """grpc.aio logs ERROR with a traceback when a stream's client goes away while a
    response is being written ("ExecuteBatchError raised in core"): a client disconnect,
    normal on a busy server, not an error of ours. One INFO line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("ExecuteBatchError raised in core"):
            record.msg, record.args = "client went away while a response was being sent (%s)", (record.getMessage(),)
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True


logging.getLogger("grpc._cython.cygrpc").addFilter(_ClientGoneFilter())

#: The services a health check may name; "" is the whole server.
HEALTH_SERVICES = ("", "sendingip.v1.Router", "sendingip.v1.Management")

AddToServer = Callable[[grpc.aio.Server], None]

#: Pings a client may send more often than ``min_ping_interval`` before GOAWAY (grpc's own default).
MAX_PING_STRIKES = 2
_INT32_MAX = 2**31 - 1


#: Descriptors a router needs besides its connections: PostgreSQL pools, files, grpc's own.
SPARE_DESCRIPTORS = 256


def raise_descriptor_limit(config: ServerConfig) -> int:
    """Raise the soft limit on open files to the hard one, and say when even that is below
    what the connection bounds can hold. At the limit, accept() fails and a new MTA's pick
    times out (issue 13); with room, a flood meets the bounds first. Returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            log.info("open files limit raised from %d to %d", soft, target)
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open files limit from %d to %d: %s", soft, target, exc)
    doors = config.adapters
    listening = sum(1 for listen in (doors.http_listen, doors.postfix_listen, doors.line_listen) if listen)
    needed = config.grpc.max_connections + listening * doors.max_connections + SPARE_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning(
            "the open files limit (%d) is below what the connection bounds can hold (%d): raise it (ulimit -n, "
            "systemd LimitNOFILE=) or lower SENDINGIP_GRPC_MAX_CONNECTIONS / SENDINGIP_ADAPTER_MAX_CONNECTIONS",
            soft,
            needed,
        )
    return int(soft)


def channel_options(bounds: GrpcBounds, *, share_port: bool = False) -> list[tuple[str, int | str]]:
    """The grpc core arguments that enforce ``bounds`` (``GrpcBounds`` says what each means)."""

    def ms(seconds: float) -> int:
        return min(_INT32_MAX, max(1, round(seconds * 1000)))

    return [
        ("grpc.so_reuseport", int(share_port)),
        ("grpc.max_allowed_incoming_connections", bounds.max_connections),
        ("grpc.max_concurrent_streams", bounds.max_streams_per_connection),
        ("grpc.server_handshake_timeout_ms", ms(bounds.handshake_timeout)),
        ("grpc.max_connection_idle_ms", ms(bounds.idle_timeout)),
        ("grpc.max_connection_age_ms", ms(bounds.max_connection_age)),
        ("grpc.max_connection_age_grace_ms", ms(bounds.max_connection_age_grace)),
        # No BDP probing: it grows each stream's flow-control window towards the largest
        # message (4 MB), so 400 requests stopped short held 1.6 GB. At grpc's 64 KB
        # lookahead, a request still arriving holds at most that; our requests are smaller.
        ("grpc.http2.bdp_probe", 0),
        # Keepalive policing: pings every min_ping_interval are fine, with or without calls
        # in progress (an idle MTA channel keeps alive; idle_timeout still closes it).
        ("grpc.http2.min_ping_interval_without_data_ms", ms(bounds.min_ping_interval)),
        ("grpc.http2.max_ping_strikes", MAX_PING_STRIKES),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


@dataclass
class App:
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    admission: Admission
    #: Each method's handling time (``server.rpc_metrics``), for the metrics endpoint.
    latencies: Latencies = field(default_factory=Latencies)

    async def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in HEALTH_SERVICES:
            await self.health.set(name, status)

    async def start(self, listen: str) -> None:
        await self.server.start()
        log.info("serving listen=%s:%d", listen.rpartition(":")[0], self.port)

    async def stop(self, grace: float) -> None:
        log.info("stopping grace=%.1fs", grace)
        await self.set_serving(False)
        await self.server.stop(grace)
        log.info("stopped")


async def create_server(
    config: ServerConfig,
    services: Sequence[AddToServer] = (),
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    options: Sequence[tuple[str, int | str]] = (),
    credentials: grpc.ServerCredentials | None = None,
) -> App:
    """Build and bind the server (not started). Port 0 binds a free port.
    With ``credentials`` (server.auth.tls) it accepts TLS only. ``ListenError`` when the
    address cannot be bound (held by another process, say)."""
    bounds = config.grpc
    server = grpc.aio.server(
        interceptors=list(interceptors),
        options=channel_options(bounds, share_port=config.share_port) + list(options),
        maximum_concurrent_rpcs=bounds.max_concurrent_rpcs,
    )
    admission = Admission(bounds.request_timeout, bounds.max_waiting_requests, bounds.max_keyless_streams)
    # Every service registers through SafeDecoding: a request that is not valid protobuf
    # answers INVALID_ARGUMENT instead of grpc's UNKNOWN and traceback; and through
    # Bounded, which times the wait for each request (server.admission).
    # And through Timed, outermost, which times each call's handling (server.rpc_metrics).
    latencies = Latencies()
    registrar = cast(grpc.aio.Server, Timed(SafeDecoding(cast(grpc.aio.Server, Bounded(server, admission))), latencies))
    for add in services:
        add(registrar)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, registrar)
    # What reflection.enable_server_reflection does for an aio server, through the registrar.
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        reflection.aio.ReflectionServicer(
            (
                router_pb2.DESCRIPTOR.services_by_name["Router"].full_name,
                management_pb2.DESCRIPTOR.services_by_name["Management"].full_name,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            )
        ),
        registrar,
    )
    port = _bind(server, config.listen, credentials)
    app = App(server=server, port=port, health=health_servicer, admission=admission, latencies=latencies)
    # NOT_SERVING until a routing table is loaded (SPEC §3).
    await app.set_serving(False)
    return app


@dataclass
class Assembly:
    """What one ``sendingip serve`` runs besides the workers, built in one place: every
    service gets the same authorizer, the gRPC server the TLS credentials. The entry point
    (``cli/serve.py``) runs the router and stops the parts in order."""

    auth: AuthRuntime
    router: RouterRuntime
    management: ManagementRuntime
    server: App
    doors: Doors

    @classmethod
    async def start(cls, config: ServerConfig) -> Assembly:
        """API keys loaded (and the first admin key made), the gRPC server started, the
        doors open; the router's ``run()`` is the caller's. ``ListenError`` when a port
        cannot be bound (nothing is left running)."""
        auth = AuthRuntime(config.database, config.auth)
        # None without SENDINGIP_TLS_CERT/KEY; read before anything starts, so a bad path fails the start.
        credentials = server_credentials(config.auth.tls_cert, config.auth.tls_key)
        await auth.start()
        router = RouterRuntime(config, auth.authorizer)
        management = ManagementRuntime(config.database, auth.authorizer)
        server: App | None = None
        try:
            server = await create_server(
                config,
                services=[router.add_to_server, management.add_to_server],
                options=router.grpc_options(),
                credentials=credentials,
            )
            await server.start(config.listen)
            doors = await Doors.start(config.adapters, router, management.servicer)
        except BaseException:
            if server is not None:
                await server.stop(0)
            await management.stop()
            await auth.stop()
            raise
        return cls(auth, router, management, server, doors)

    async def stop_access(self) -> None:
        """Management's pool and the key refresh; once the gRPC server and the doors have
        stopped (no call can come any more). Idempotent."""
        await self.management.stop()
        await self.auth.stop()


def _bind(server: grpc.aio.Server, listen: str, credentials: grpc.ServerCredentials | None) -> int:
    try:
        if credentials is not None:
            port = server.add_secure_port(listen, credentials)
        else:
            port = server.add_insecure_port(listen)
    except RuntimeError:  # grpc 1.85 raises "Failed to bind to address ..."; older ones return 0
        port = 0
    if port == 0:
        raise ListenError(f"the gRPC server cannot listen on {listen}: {_why_not(listen)}")
    return port


def _why_not(listen: str) -> str:
    """grpc does not say why a bind failed: a plain bind of the same address does."""
    try:
        host, port = split_listen(listen)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return "address already in use: another process holds it (another sendingip serve?)"
        return exc.strerror or str(exc)
    except ValueError as exc:
        return str(exc)
    return "grpc could not bind it (set GRPC_VERBOSITY=debug for grpc's reason)"
