"""How the domain's states are shown to people (SPEC §1), spelled once.

The CLI (``cli.output``, keyed by the protos' numbers through ``server.proto_enums``) and
the simulator's timelines show the same words, so an operator reading either sees "In
Progress", never ``in_progress`` here and "Warming" there.
"""

from __future__ import annotations

from collections.abc import Mapping

from store.routing_entry import ManagementType, PoolType

MANAGEMENT_TYPE_LABELS: Mapping[ManagementType, str] = {
    "general": "General",
    "transition": "Transition",
    "dedicated": "Dedicated",
}
POOL_TYPE_LABELS: Mapping[PoolType, str] = {"general": "General", "dedicated": "Dedicated"}
#: Keyed by ``store.account_figures.IpStatus``.
IP_STATUS_LABELS: Mapping[str, str] = {
    "in_progress": "In Progress",
    "active": "Active",
    "draining": "Draining",
}
