"""The pick: a deterministic weighted choice of a sending IP (SPEC rules 3, 5, 8, 9, 10).

Pure: the same (account_id, message_id), entries and headroom give the same answer in
every process on every machine. The hash is BLAKE2b, never ``hash()`` (salted per
process). Two independent draws come from one digest: ``u`` decides dedicated pool
versus general pool (with probability ``dedicated_share``), ``k`` chooses inside the
pool (weighted for a dedicated pool, uniform for the general pool unless an IP of it is
ramping in, rule 12).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from hashlib import blake2b
from typing import NamedTuple

from sendingip.v1 import types_pb2
from server.router.table import CompiledAccount, CompiledRegion, CompiledRoute
from store.overflow import overflow_to

GENERAL = types_pb2.POOL_TYPE_GENERAL
DEDICATED = types_pb2.POOL_TYPE_DEDICATED
_UNIT = 2.0**-53
_LOW64 = (1 << 64) - 1
#: An odd 64-bit constant (2^64 / golden ratio) for ``general_address``'s mixing.
_MIX = 0x9E3779B97F4A7C15

#: ``headroom(address, provider, limit, hourly_burst)``: whether one more pick fits in the
#: pair's limit today, as released by the current hour (rule 10).
Headroom = Callable[[str, str, int, float], bool]
#: ``room(address, capacity)``: whether one more pick fits in the IP's daily capacity over
#: all providers (rule 9). An IP at its capacity is treated as a full pair.
Room = Callable[[str, int], bool]


def _any_room(_address: str, _capacity: int) -> bool:
    return True


class Choice(NamedTuple):
    ip: str
    pool_id: str
    pool_type: int  # types_pb2.PoolType
    #: A limited pair was full, so the pick went elsewhere.
    overflow: bool
    #: The limit of the chosen (dedicated) pair, ``None`` when it has none: the caller
    #: counts the pick against it, paced by ``hourly_burst``.
    limit: int | None
    hourly_burst: float
    #: The chosen dedicated IP's daily capacity (rule 9), ``None`` when uncapped: the caller
    #: counts the pick against it too.
    capacity: int | None


#: ``Choice(…)`` is a Python-level ``__new__``; the tuple's own is a third cheaper, and
#: ``pick`` makes one per pick (3-4% of a batch pick's time, measured side by side in process).
_choice = tuple.__new__


class NoGeneralPool(LookupError):
    """The region has no general pool IP to send through."""

    def __init__(self, region: str) -> None:
        super().__init__(
            f"region {region!r} has no general pool IPs; add some with "
            "Management.AddIPs(purpose=IP_PURPOSE_GENERAL_POOL)"
        )
        self.region = region


def draw(account_id: str, message_id: str) -> tuple[float, int]:
    """(u in [0, 1), k a 64-bit integer), stable across processes and versions."""
    u, k, _ = draw_keyed(account_id, message_id)
    return u, k


def draw_keyed(account_id: str, message_id: str) -> tuple[float, int, int]:
    """``draw`` and the whole 128-bit digest it comes from, which also names the pick for
    ``repeats`` (the engine's path: one hash per pick)."""
    digest = blake2b(f"{account_id}\x00{message_id}".encode("utf-8", "surrogatepass"), digest_size=16).digest()
    # One int of all 16 bytes (little-endian): its low 64 bits are the first 8 bytes, its
    # high 64 bits the last 8, exactly as two conversions of the halves, in one call.
    both = int.from_bytes(digest, "little")
    return ((both & _LOW64) >> 11) * _UNIT, both >> 64, both


def pick(
    account: CompiledAccount | None,
    region: CompiledRegion | None,
    region_name: str,
    provider: str,
    u: float,
    k: int,
    headroom: Headroom,
    room: Room = _any_room,
) -> Choice:
    """Where this message goes. ``region`` is the general pool of the account's region.

    A dedicated pick whose pair is full or whose IP is at its capacity goes where
    ``store.overflow`` says."""
    route = account.route(provider) if account is not None else None
    if route is not None and u < route.dedicated_share:
        assert account is not None
        x = (k >> 11) * _UNIT
        cumulative = route.cumulative
        i = bisect_right(cumulative, x)
        if i >= len(cumulative):
            i = len(cumulative) - 1
        limit = route.limits[i]
        burst, cap = route.hourly_burst, route.capacity
        address = route.addresses[i]
        if (limit is None or headroom(address, provider, limit, burst)) and (cap is None or room(address, cap)):
            return _choice(Choice, (address, account.pool_id, DEDICATED, False, limit, burst, cap))
        # The pair is full (or its IP at capacity): store.overflow says where the message goes instead.
        other = -1
        if account.dedicated:
            # Where x fell inside IP i's interval is again uniform: an unbiased draw among the rest.
            low = cumulative[i - 1] if i else 0.0
            rest = (x - low) / (cumulative[i] - low)
            other = _other_with_headroom(route, i, provider, rest, headroom, room)
        to = overflow_to(account.dedicated, other >= 0, region is not None and bool(region.addresses))
        if to == "pool":
            return _choice(
                Choice, (route.addresses[other], account.pool_id, DEDICATED, True, route.limits[other], burst, cap)
            )
        if to == "over_limit":  # the caller counts the message over the pair's limit (or IP's capacity)
            return _choice(Choice, (address, account.pool_id, DEDICATED, False, limit, burst, cap))
        assert region is not None
        return _choice(Choice, (general_address(region, k), region.pool_id, GENERAL, True, None, 0.0, None))
    if region is None or not region.addresses:
        raise NoGeneralPool(region_name)
    return _choice(Choice, (general_address(region, k), region.pool_id, GENERAL, False, None, 0.0, None))


def general_address(region: CompiledRegion, k: int) -> str:
    """The general pool's IP for draw ``k``: uniform, or weighted while an IP ramps in
    (rule 12). The weighted draw mixes all of ``k`` (a Weyl step): an overflowed pick's
    ``k`` has its high bits inside the full dedicated IP's interval, and must not let that
    choose the general IP."""
    cumulative = region.cumulative
    if not cumulative:
        return region.addresses[k % len(region.addresses)]
    y = (((k * _MIX) & _LOW64) >> 11) * _UNIT
    i = bisect_right(cumulative, y)
    return region.addresses[i if i < len(cumulative) else len(cumulative) - 1]


def _other_with_headroom(
    route: CompiledRoute, full: int, provider: str, v: float, headroom: Headroom, room: Room
) -> int:
    """A weighted choice among the pool's other IPs that still have headroom (and room
    under their capacity); -1 if none."""
    burst, cap = route.hourly_burst, route.capacity
    eligible = [
        i
        for i, (address, limit) in enumerate(zip(route.addresses, route.limits, strict=True))
        if i != full
        and (limit is None or headroom(address, provider, limit, burst))
        and (cap is None or room(address, cap))
    ]
    if not eligible:
        return -1
    target = v * sum(route.weights[i] for i in eligible)
    for i in eligible:
        target -= route.weights[i]
        if target < 0:
            return i
    return eligible[-1]
