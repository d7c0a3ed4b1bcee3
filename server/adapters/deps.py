"""What every door is built from: the router process's one picker and servicers.

A door translates its protocol onto these and holds no rule of its own: the access
check, validation, pick, counting and error statuses all live behind ``picker`` and
the servicers, exactly as gRPC uses them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from server.adapters.config import AdapterConfig
from server.authz import Metadata
from server.management.servicer import ManagementServicer
from server.router.picker import Picker
from server.router.servicer import RouterServicer


@dataclass(frozen=True)
class Deps:
    picker: Picker
    router: RouterServicer
    #: ``None`` in a process that serves no Management (HTTP then answers those paths 404).
    management: ManagementServicer | None
    config: AdapterConfig
    #: Whether the routing table is loaded (health).
    ready: Callable[[], bool]
    #: The metadata the Postfix and line doors act with (SENDINGIP_ADAPTER_KEY).
    adapter_metadata: Metadata = field(default=())

    @staticmethod
    def bearer(key: str) -> Metadata:
        return (("authorization", f"Bearer {key}"),)
