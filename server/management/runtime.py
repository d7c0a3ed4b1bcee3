"""Access control and the Management service of a running ``sendingip serve``.

One object so the entry point needs three lines: ``start`` (before ``create_server``),
its ``authorizer``/``add_to_server``/``credentials`` (passed to the router and to
``create_server``), and ``stop`` (after the server has stopped).
"""

from __future__ import annotations

import grpc

from sendingip.v1 import management_pb2_grpc
from server.auth.authorizer import KeyAuthorizer
from server.auth.runtime import AuthRuntime
from server.auth.tls import server_credentials
from server.config import ServerConfig
from server.management.pool import LazyPool
from server.management.servicer import ManagementServicer


class ManagementRuntime:
    def __init__(self, config: ServerConfig) -> None:
        assert config.database.url is not None
        self.auth = AuthRuntime(config)
        self.authorizer: KeyAuthorizer = self.auth.authorizer
        #: ``None`` without SENDINGIP_TLS_CERT/KEY; read now so a bad path fails the start.
        self.credentials: grpc.ServerCredentials | None = server_credentials(config.auth.tls_cert, config.auth.tls_key)
        self.pool = LazyPool(config.database.url, size=min(config.database.pool_size, 5))
        self.servicer = ManagementServicer(self.pool, self.authorizer)

    @classmethod
    async def start(cls, config: ServerConfig) -> ManagementRuntime:
        runtime = cls(config)
        await runtime.auth.start()
        return runtime

    def add_to_server(self, server: grpc.aio.Server) -> None:
        management_pb2_grpc.add_ManagementServicer_to_server(self.servicer, server)  # type: ignore[no-untyped-call]

    async def stop(self) -> None:
        """Idempotent; call after the gRPC server has stopped."""
        await self.auth.stop()
        await self.pool.close()
