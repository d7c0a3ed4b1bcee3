"""The domain's states as the protos number them, written once.

``store`` names them as strings (``store.routing_entry.ManagementType`` and ``PoolType``,
``store.account_figures.IpStatus``), as they are stored; the gRPC messages carry the
protos' enums. The router, Management and the CLI all convert through these maps.
"""

from __future__ import annotations

from collections.abc import Mapping

from sendingip.v1 import types_pb2
from store.routing_entry import ManagementType, PoolType

MANAGEMENT_TYPE_TO_PROTO: Mapping[ManagementType, types_pb2.ManagementType] = {
    "general": types_pb2.MANAGEMENT_TYPE_GENERAL,
    "transition": types_pb2.MANAGEMENT_TYPE_TRANSITION,
    "dedicated": types_pb2.MANAGEMENT_TYPE_DEDICATED,
}
PROTO_TO_MANAGEMENT_TYPE: Mapping[types_pb2.ManagementType, ManagementType] = {
    v: k for k, v in MANAGEMENT_TYPE_TO_PROTO.items()
}
POOL_TYPE_TO_PROTO: Mapping[PoolType, types_pb2.PoolType] = {
    "general": types_pb2.POOL_TYPE_GENERAL,
    "dedicated": types_pb2.POOL_TYPE_DEDICATED,
}
#: Keyed by ``store.account_figures.IpStatus``.
IP_STATUS_TO_PROTO: Mapping[str, types_pb2.IpStatus] = {
    "in_progress": types_pb2.IP_STATUS_IN_PROGRESS,
    "active": types_pb2.IP_STATUS_ACTIVE,
    "draining": types_pb2.IP_STATUS_DRAINING,
}
