"""Where an account's dedicated mail goes in one day, as the router would place it.

A day is placed in one step, or hour by hour (SPEC rule 10) when pacing can change the
answer. Each step gives every (IP, provider) pair at most its *room* (what is left of its
limit as released by that hour, ``store.hourly_pacing.paced_limit``, and of any same-day
breaker cap, rule 11) and every IP at most what is left of ``ip_daily_capacity`` (rule 9);
what does not fit goes where ``store.overflow`` says: in Dedicated to the pool's other IPs
with room (by weight), else to the shared pool (``overflow``), and with no shared pool to
the pair all the same (``over_limit``).

One step for the whole day is exact when pacing cannot bind: with a flat hourly profile
and ``hourly_burst`` 0 or >= 1 the day's answer, spread evenly over the hours, keeps every
pair inside ``limit * (h + 1) / 24 <= paced_limit(limit, h, burst)`` at every hour h. Any
other day (a front-loaded profile, ``hourly_burst`` below 1, a pair resting after a
throttle) is placed hour by hour, about 24 times the work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from store.hourly_pacing import HOURS_PER_DAY, paced_limit
from store.overflow import overflow_to, overflows_within_pool
from store.routing_entry import AccountRoute

#: (address, provider).
Key = tuple[str, str]
#: (address, provider) → messages that pair carries.
Sends = dict[Key, int]
#: Room so large it never binds (a warm pair with no breaker cap, an uncapped IP).
UNBOUNDED = 1 << 62


@dataclass(slots=True)
class Allocation:
    """One account's day: what each pair carried, and where the rest went."""

    sends: Sends = field(default_factory=dict)
    #: Mail the shared pool took because no pair of the pool had room.
    overflow: int = 0
    #: Mail carried past a room anyway: only in a region without a shared pool.
    over_limit: int = 0
    #: Placed hour by hour: each pair's sends by the end of each UTC hour (cumulative),
    #: one mapping per hour; empty when the day was placed in one step.
    by_hour: list[Sends] = field(default_factory=list)


def allocate(
    route: AccountRoute,
    by_provider: Mapping[str, int],
    has_general_pool: bool,
    *,
    profile: Sequence[float] = (),
    caps: Mapping[Key, int] | None = None,
    rested: Mapping[Key, Sequence[float]] | None = None,
    hourly: bool | None = None,
) -> Allocation:
    """Place the day. ``profile``: the share of the day's mail in each UTC hour (``()``:
    flat); ``caps``: the most a pair carries today before the same-day breaker holds it;
    ``rested``: per pair, the fraction of each hour it rests after a throttle. ``hourly``
    forces (or forbids) hour-by-hour placement; by default only days where pacing or a
    rest can change the answer are placed by the hour."""
    caps = caps or {}
    rested = rested or {}
    if hourly is None:
        burst = route.hourly_burst
        hourly = bool(rested) or not _flat(profile) or 0 < burst < 1
    planned, limits = _plan(route, by_provider)
    if not hourly:
        rooms = {key: _cap(limit, caps.get(key)) for key, limit in limits.items()} if caps else limits
        ip_rooms = dict.fromkeys(_addresses(rooms), route.ip_capacity) if route.ip_capacity is not None else {}
        day = {key: round(n) for key, n in planned.items()}
        sends, overflow, over = place(route, day, has_general_pool, rooms, ip_rooms, {})
        return Allocation(sends, overflow, over)
    return _by_hour(route, planned, limits, has_general_pool, profile, caps, rested)


def _plan(route: AccountRoute, by_provider: Mapping[str, int]) -> tuple[dict[Key, float], dict[Key, int | None]]:
    """Every live pair the day's mail may use: what the route's weights give it before any
    limit, and its daily limit (``None``: warm)."""
    planned: dict[Key, float] = {}
    limits: dict[Key, int | None] = {}
    for provider, volume in by_provider.items():
        provider_route = route.route_for(provider)
        if provider_route is None or volume <= 0 or provider_route.dedicated_share <= 0:
            continue
        share = volume * provider_route.dedicated_share
        for ip in provider_route.ips:
            if ip.weight > 0:
                key = (ip.address, provider)
                planned[key] = share * ip.weight
                limits[key] = ip.daily_limit
    return planned, limits


def _by_hour(
    route: AccountRoute,
    planned: Mapping[Key, float],
    limits: Mapping[Key, int | None],
    has_general_pool: bool,
    profile: Sequence[float],
    caps: Mapping[Key, int],
    rested: Mapping[Key, Sequence[float]],
) -> Allocation:
    out = Allocation()
    cumulative = _cumulative(profile)
    loads: dict[str, int] = {}
    for hour in range(HOURS_PER_DAY):
        # Rounded by the cumulative share, so the hours add up to the day's plan exactly.
        hour_plan = {key: round(n * cumulative[hour + 1]) - round(n * cumulative[hour]) for key, n in planned.items()}
        rooms = {
            key: _cap(None if limit is None else paced_limit(limit, hour, route.hourly_burst), caps.get(key))
            for key, limit in limits.items()
        }
        rooms = {key: None if r is None else r - out.sends.get(key, 0) for key, r in rooms.items()}
        ip_rooms = {}
        if route.ip_capacity is not None:
            ip_rooms = {a: route.ip_capacity - loads.get(a, 0) for a in _addresses(limits)}
        resting = {key: fractions[hour] for key, fractions in rested.items() if fractions[hour] > 0}
        sends, overflow, over = place(route, hour_plan, has_general_pool, rooms, ip_rooms, resting)
        for key, n in sends.items():
            out.sends[key] = out.sends.get(key, 0) + n
            loads[key[0]] = loads.get(key[0], 0) + n
        out.overflow += overflow
        out.over_limit += over
        out.by_hour.append(dict(out.sends))
    return out


def _flat(profile: Sequence[float]) -> bool:
    return not profile or max(profile) - min(profile) < 1e-12


def _cumulative(profile: Sequence[float]) -> list[float]:
    """0, then the share of the day sent by the end of each hour (the last exactly 1)."""
    shares = list(profile) if profile else [1.0 / HOURS_PER_DAY] * HOURS_PER_DAY
    out = [0.0]
    for share in shares:
        out.append(out[-1] + share)
    out[-1] = 1.0
    return out


def _cap(limit: int | None, cap: int | None) -> int | None:
    if cap is None:
        return limit
    return cap if limit is None or cap < limit else limit


def _addresses(keys: Mapping[Key, object]) -> set[str]:
    return {address for address, _ in keys}


def place(
    route: AccountRoute,
    planned: Mapping[Key, int],
    has_general_pool: bool,
    rooms: Mapping[Key, int | None],
    ip_rooms: Mapping[str, int],
    resting: Mapping[Key, float],
) -> tuple[Sends, int, int]:
    """One step: each pair gets its ``planned`` mail within its room (``None``: unbounded)
    and each IP within its ``ip_rooms`` entry (absent: uncapped). A pair ``resting`` a
    fraction of the step gives that part back and takes nothing from others. Returns the
    sends, the overflow and what was carried past a room."""
    sends: Sends = {}
    live: dict[str, list[tuple[str, float]]] = {}
    rest: dict[str, int] = {}
    #: The rooms the pool's fill sees: a resting pair's closed at what it took.
    closed: dict[Key, int | None] = {}
    for provider in dict.fromkeys(p for _, p in planned):
        provider_route = route.route_for(provider)
        assert provider_route is not None  # _planned names only pairs of a route
        live[provider] = [(ip.address, ip.weight) for ip in provider_route.ips if ip.weight > 0]
        rest[provider] = 0
        for address, _ in live[provider]:
            key = (address, provider)
            n = planned[key]
            if key in resting:
                given = round(n * resting[key])
                rest[provider] += given
                n -= given
            room = rooms.get(key)
            if room is not None and n > room:
                rest[provider] += n - max(room, 0)
                n = max(room, 0)
            sends[key] = n
            if key in resting:  # takes no more this step
                closed[key] = n
    _cap_ips(sends, ip_rooms, rest)
    within_pool = overflows_within_pool(route.management_type)
    overflow = 0
    for provider, left in rest.items():
        if not left:
            continue
        pool = _Pool(sends, {**rooms, **closed} if closed else rooms, ip_rooms, provider)
        if overflow_to(within_pool, pool.any_room(live[provider]), has_general_pool) == "pool":
            left = pool.fill(live[provider], left)
        if left and overflow_to(within_pool, False, has_general_pool) == "general":
            overflow += left
        elif left:  # no general pool: the first pair carries it over its room
            key = (live[provider][0][0], provider)
            sends[key] = sends.get(key, 0) + left
    return sends, overflow, over_limit(sends, rooms, ip_rooms)


def _loads(sends: Sends) -> dict[str, int]:
    loads: dict[str, int] = {}
    for (address, _), n in sends.items():
        loads[address] = loads.get(address, 0) + n
    return loads


def _cap_ips(sends: Sends, ip_rooms: Mapping[str, int], rest: dict[str, int]) -> None:
    """Trim every IP to its room over its providers, each in proportion to what it sends
    there; what is trimmed joins the provider's ``rest``."""
    if not ip_rooms:
        return
    for address, load in _loads(sends).items():
        room = ip_rooms.get(address)
        if room is None:
            continue
        excess = load - max(room, 0)
        if excess <= 0:
            continue
        keys = sorted((key for key in sends if key[0] == address), key=sends.__getitem__, reverse=True)
        cuts = {key: excess * sends[key] // load for key in keys}
        short = excess - sum(cuts.values())
        for key in keys:  # the rounding rest, from the largest first
            extra = min(short, sends[key] - cuts[key])
            cuts[key] += extra
            short -= extra
        for key, cut in cuts.items():
            sends[key] -= cut
            rest[key[1]] += cut


@dataclass(slots=True)
class _Pool:
    """The room left in this step on one provider's pairs of the pool."""

    sends: Sends
    rooms: Mapping[Key, int | None]
    ip_rooms: Mapping[str, int]
    provider: str

    def room(self, address: str, loads: Mapping[str, int]) -> int:
        key = (address, self.provider)
        pair_room = self.rooms.get(key)
        pair = pair_room - self.sends.get(key, 0) if pair_room is not None else UNBOUNDED
        ip_room = self.ip_rooms.get(address)
        ip = ip_room - loads.get(address, 0) if ip_room is not None else UNBOUNDED
        return max(0, min(pair, ip))

    def any_room(self, live: list[tuple[str, float]]) -> bool:
        loads = _loads(self.sends)
        return any(self.room(address, loads) > 0 for address, _ in live)

    def fill(self, live: list[tuple[str, float]], left: int) -> int:
        """Spread ``left`` over the pairs with room by weight; what none can take is returned."""
        while left > 0:
            loads = _loads(self.sends)
            rooms = {address: self.room(address, loads) for address, _ in live}
            eligible = [(address, weight) for address, weight in live if rooms[address] > 0]
            if not eligible:
                break
            weight_sum = sum(weight for _, weight in eligible)
            share = left
            for address, weight in eligible:
                give = min(rooms[address], left, max(1, int(share * weight / weight_sum)))
                key = (address, self.provider)
                self.sends[key] = self.sends.get(key, 0) + give
                left -= give
        return left


def over_limit(sends: Sends, rooms: Mapping[Key, int | None], ip_rooms: Mapping[str, int]) -> int:
    """Mail carried past a pair's room or an IP's (rules 8 to 11)."""
    over = sum(max(0, n - max(room, 0)) for key, n in sends.items() if (room := rooms.get(key)) is not None)
    over += sum(max(0, load - max(ip_rooms[a], 0)) for a, load in _loads(sends).items() if a in ip_rooms)
    return over
