"""Where mail goes that a full (IP, provider) pair cannot take (SPEC rule 8), one rule
for the router and the simulator.

A pair with a daily limit is full once it has carried its limit today. What it cannot take
goes, in this order:

1. ``"pool"``: in Dedicated, to another IP of the account's pool that still has room
   (chosen by the pool's weights), so a Dedicated account keeps to its own IPs;
2. ``"general"``: otherwise (Transition, or no IP of the pool has room), to the region's
   general pool; this is what counts as overflow;
3. ``"over_limit"``: with no general pool either, to the full pair all the same: mail is
   never refused for lack of capacity.

The router applies it one message at a time (``server.router.pick``), the simulator to a
day's volume at once (``workers.simulate.world``). Pure, and no allocation: the router
calls it for every pick that finds its pair full.
"""

from __future__ import annotations

from typing import Literal

from store.routing_entry import ManagementType

Overflow = Literal["pool", "general", "over_limit"]


def overflows_within_pool(management_type: ManagementType) -> bool:
    """Whether a full pair's mail tries the pool's other IPs first: in Dedicated only (in
    Transition the general pool still carries part of the traffic anyway)."""
    return management_type == "dedicated"


def overflow_to(within_pool: bool, pool_has_room: bool, has_general_pool: bool) -> Overflow:
    """Where the mail a full pair cannot take goes. ``within_pool``: what
    ``overflows_within_pool`` says of the account; ``pool_has_room``: another IP of its
    pool can take the mail; ``has_general_pool``: the region has general pool IPs."""
    if within_pool and pool_has_room:
        return "pool"
    if has_general_pool:
        return "general"
    return "over_limit"
