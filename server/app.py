"""Assembles the gRPC server: the services it is given, health, reflection.

``create_server`` builds and binds; ``App.start``/``App.stop`` own the lifecycle.
Services register themselves through ``add_to_server`` callables so this module does
not need to know them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from sendingip.v1 import management_pb2, router_pb2
from server.config import ServerConfig
from server.decoding import SafeDecoding

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


@dataclass
class App:
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer

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
    With ``credentials`` (server.auth.tls) it accepts TLS only."""
    server = grpc.aio.server(interceptors=list(interceptors), options=list(options))
    # Every service registers through SafeDecoding: a request that is not valid protobuf
    # answers INVALID_ARGUMENT instead of grpc's UNKNOWN and traceback.
    registrar = cast(grpc.aio.Server, SafeDecoding(server))
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
    if credentials is not None:
        port = server.add_secure_port(config.listen, credentials)
    else:
        port = server.add_insecure_port(config.listen)
    if port == 0:
        raise OSError(f"could not listen on {config.listen}")
    app = App(server=server, port=port, health=health_servicer)
    # NOT_SERVING until a routing table is loaded (SPEC §3).
    await app.set_serving(False)
    return app
