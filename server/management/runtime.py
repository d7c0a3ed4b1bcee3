"""The Management service of a running ``sendingip serve``: its servicer and its pool.

It is handed the server's access control (``server.app`` builds it, with TLS, once for
every service); ``stop`` closes its pool after the server has stopped.
"""

from __future__ import annotations

import grpc

from sendingip.v1 import management_pb2_grpc
from server.management.pool import LazyPool
from server.management.servicer import AccessControl, ManagementServicer
from store.config import DatabaseConfig


class ManagementRuntime:
    def __init__(self, database: DatabaseConfig, access: AccessControl) -> None:
        assert database.url is not None
        self.pool = LazyPool(database.url, size=min(database.pool_size, 5))
        self.servicer = ManagementServicer(self.pool, access)

    def add_to_server(self, server: grpc.aio.Server) -> None:
        management_pb2_grpc.add_ManagementServicer_to_server(self.servicer, server)  # type: ignore[no-untyped-call]

    async def stop(self) -> None:
        """Idempotent; call after the gRPC server has stopped."""
        await self.pool.close()
