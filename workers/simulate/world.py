"""A small in-memory world that runs the policy day by day, as the rebalancer would.

Each simulated day D: IPs whose quarantine ended go back to their region's inventory;
every account is decided for D from the history before D and the actions are applied
(inventory, pool, quarantine); then the account "sends" D's mail along the routing entry
the decision produced (``allocate``). A pair sends ``min(planned, limit)`` (rule 8) and an
IP at most ``ip_daily_capacity`` over all providers (rule 9); in Transition the rest goes
to the shared pool, in Dedicated to the pool's other IPs with room and only when there are
none to the shared pool (counted as overflow): the router's rule, ``store.overflow``. The
pairs that sent and their outcomes become D's history.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date

from store.overflow import overflow_to, overflows_within_pool
from store.routing_entry import AccountRoute
from workers.policy import (
    AccountState,
    AssignIP,
    ChangeManagementType,
    DayHistory,
    Decision,
    Outcomes,
    PairDay,
    PairState,
    Policy,
    ReleaseToQuarantine,
    StartDrain,
    decide,
)
from workers.simulate.scenario import AccountSpec, Scenario


@dataclass(slots=True)
class Sent:
    """What one account sent on one day."""

    volume: int
    dedicated: int
    overflow: int
    #: Per provider: mail sent.
    by_provider: dict[str, int]
    #: Mail carried past a pair's daily limit or an IP's capacity: only when the region
    #: has no general pool to overflow to (``store.overflow``'s ``"over_limit"``).
    over_limit: int = 0


@dataclass(slots=True)
class AccountSim:
    spec: AccountSpec
    state: AccountState
    pairs: tuple[PairState, ...] = ()
    window: deque[DayHistory] = field(default_factory=deque)
    rng: random.Random = field(default_factory=random.Random)
    #: Noteworthy moments: (day index, text).
    events: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DayResult:
    """One account on one day, after the decision and the sending."""

    index: int
    day: date
    account: AccountSim
    decision: Decision
    sent: Sent


class World:
    """Regions' inventories, quarantine, and the accounts' states and histories."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.policy: Policy = scenario.policy
        self.inventory: dict[str, list[str]] = {r.name: list(r.inventory) for r in scenario.regions}
        self.has_general_pool = {r.name: bool(r.general_pool) for r in scenario.regions}
        #: (until, region, address) of quarantined IPs.
        self.quarantine: list[tuple[date, str, str]] = []
        #: address → account id, for every IP in a dedicated pool.
        self.owner: dict[str, str] = {}
        window_days = self.policy.history_window_days
        self.accounts = [
            AccountSim(
                spec,
                AccountState(spec.account_id, spec.region),
                window=deque(maxlen=window_days),
                rng=random.Random(spec.seed),
            )
            for spec in scenario.accounts
        ]
        self.returned_to_inventory = 0

    def run(self, days: int | None = None) -> Iterator[DayResult]:
        """Simulate ``days`` (default: the scenario's) and yield every account's day."""
        for index in range(self.scenario.days if days is None else days):
            yield from self.step(index)

    def step(self, index: int) -> list[DayResult]:
        day = self.scenario.day(index)
        self._end_quarantine(day)
        results = []
        for sim in self.accounts:
            decision = self._decide(sim, index, day)
            sent = self._send(sim, index, day, decision.route)
            results.append(DayResult(index, day, sim, decision, sent))
        return results

    def _end_quarantine(self, day: date) -> None:
        if not self.quarantine:
            return
        still = []
        for until, region, address in self.quarantine:
            if until <= day:
                self.inventory[region].append(address)
                self.returned_to_inventory += 1
            else:
                still.append((until, region, address))
        self.quarantine = still

    def _decide(self, sim: AccountSim, index: int, day: date) -> Decision:
        spec = sim.spec
        paused = any(lo <= index <= hi for lo, hi in spec.pauses)
        if paused != sim.state.paused:
            sim.state = replace(sim.state, paused=paused)
            sim.events.append((index, "warm-up paused" if paused else "warm-up resumed"))
        inventory = self.inventory[spec.region]
        decision = decide(self.policy, sim.state, sim.pairs, sim.window, inventory, day)
        for action in decision.actions:
            if isinstance(action, AssignIP):
                owner = self.owner.get(action.address)
                if owner is not None:
                    raise AssertionError(f"{action.address} assigned to {spec.account_id} but owned by {owner}")
                inventory.remove(action.address)
                self.owner[action.address] = spec.account_id
                sim.events.append((index, f"assigned {action.address}"))
            elif isinstance(action, StartDrain):
                sim.events.append((index, f"draining {action.address}"))
            elif isinstance(action, ReleaseToQuarantine):
                del self.owner[action.address]
                self.quarantine.append((action.until, spec.region, action.address))
                sim.events.append((index, f"{action.address} to quarantine until {action.until.isoformat()}"))
            elif isinstance(action, ChangeManagementType):
                sim.events.append((index, f"{action.old} → {action.new}"))
        sim.state = decision.account
        sim.pairs = decision.pairs
        return decision

    def _send(self, sim: AccountSim, index: int, day: date, route: AccountRoute) -> Sent:
        spec = sim.spec
        pattern = spec.volume
        level = pattern.level(index, day, self.scenario.days - 1) * spec.scale
        if pattern.noise and level > 0:
            level *= 1.0 + sim.rng.uniform(-pattern.noise, pattern.noise)
        total = round(level)
        if total <= 0:
            return Sent(0, 0, 0, {})
        by_provider = _split(total, spec.mix)
        pairs: dict[tuple[str, str], PairDay] = {}
        sends: dict[tuple[str, str], int] = {}
        overflow = over_limit = 0
        if route.providers:
            sends, overflow, over_limit = allocate(route, by_provider, self.has_general_pool[spec.region])
        rates: dict[str, tuple[float, float, float]] = {}
        for (address, provider), n in sends.items():
            if n <= 0:
                continue
            if provider not in rates:
                rates[provider] = self._rates(spec, index, provider)
            bounce, complaint, deferral = rates[provider]
            bounced = round(n * bounce)
            deferred = min(n - bounced, round(n * deferral))
            delivered = n - bounced - deferred
            complained = min(delivered, round(n * complaint))
            pairs[(address, provider)] = PairDay(n, Outcomes(delivered, deferred, bounced, complained))
        sim.window.append(DayHistory(day, by_provider, pairs))
        dedicated = sum(pair.sent for pair in pairs.values())
        return Sent(total, dedicated, overflow, by_provider, over_limit)

    @staticmethod
    def _rates(spec: AccountSpec, index: int, provider: str) -> tuple[float, float, float]:
        bounce, complaint, deferral = spec.bounce, spec.complaint, spec.deferral
        for spike in spec.spikes:
            if spike.from_day <= index <= spike.to_day and spike.provider in (None, provider):
                bounce = spike.bounce if spike.bounce is not None else bounce
                complaint = spike.complaint if spike.complaint is not None else complaint
                deferral = spike.deferral if spike.deferral is not None else deferral
        return bounce, complaint, deferral


def _split(total: int, mix: Mapping[str, float]) -> dict[str, int]:
    """``total`` over providers by ``mix``; the rounding rest goes to the largest share."""
    out = {provider: int(total * share) for provider, share in mix.items()}
    rest = total - sum(out.values())
    if rest:
        top = max(mix, key=mix.__getitem__)
        out[top] += rest
    return out


#: (address, provider) → messages that pair carries today.
Sends = dict[tuple[str, str], int]


def allocate(route: AccountRoute, by_provider: Mapping[str, int], has_general_pool: bool) -> tuple[Sends, int, int]:
    """A day's dedicated mail over the pool's pairs, as the router would place it.

    Each provider's dedicated share goes to its IPs by weight. A pair sends at most its
    daily limit (rule 8) and an IP at most ``route.ip_capacity`` over all providers (rule 9;
    an IP over it gives back from each provider in proportion). What a pair or IP cannot
    take goes where ``store.overflow`` says: in Dedicated to the pool's other IPs with room
    (by weight), else to the general pool (``overflow``), and with no general pool to the
    pair all the same (``over_limit``). Returns the sends, the overflow and the mail
    carried over a limit or capacity (0 whenever the region has a general pool)."""
    sends: Sends = {}
    limits: dict[tuple[str, str], int | None] = {}
    live: dict[str, list[tuple[str, float]]] = {}
    rest: dict[str, int] = {}
    for provider, volume in by_provider.items():
        provider_route = route.route_for(provider)
        if provider_route is None or volume <= 0 or provider_route.dedicated_share <= 0:
            continue
        planned = volume * provider_route.dedicated_share
        live[provider] = [(ip.address, ip.weight) for ip in provider_route.ips if ip.weight > 0]
        rest[provider] = 0
        for ip in provider_route.ips:
            if ip.weight <= 0:
                continue
            key = (ip.address, provider)
            limits[key] = ip.daily_limit
            n = round(planned * ip.weight)
            if ip.daily_limit is not None and n > ip.daily_limit:
                rest[provider] += n - ip.daily_limit
                n = ip.daily_limit
            sends[key] = n
    _cap_ips(sends, route.ip_capacity, rest)
    within_pool = overflows_within_pool(route.management_type)
    overflow = 0
    for provider, left in rest.items():
        if not left:
            continue
        pool = _Pool(sends, limits, route.ip_capacity, provider)
        if overflow_to(within_pool, pool.any_room(live[provider]), has_general_pool) == "pool":
            left = pool.fill(live[provider], left)
        if left and overflow_to(within_pool, False, has_general_pool) == "general":
            overflow += left
        elif left:  # no general pool: the first pair carries it over its limit
            key = (live[provider][0][0], provider)
            sends[key] = sends.get(key, 0) + left
    return sends, overflow, over_limit(sends, limits, route.ip_capacity)


def _loads(sends: Sends) -> dict[str, int]:
    loads: dict[str, int] = {}
    for (address, _), n in sends.items():
        loads[address] = loads.get(address, 0) + n
    return loads


def _cap_ips(sends: Sends, capacity: int | None, rest: dict[str, int]) -> None:
    """Trim every IP to ``capacity`` over its providers, each in proportion to what it sends
    there; what is trimmed joins the provider's ``rest``."""
    if capacity is None:
        return
    for address, load in _loads(sends).items():
        excess = load - capacity
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
    """The room left today on one provider's pairs of the pool."""

    sends: Sends
    limits: Mapping[tuple[str, str], int | None]
    capacity: int | None
    provider: str

    def room(self, address: str, loads: Mapping[str, int]) -> int:
        key = (address, self.provider)
        limit = self.limits.get(key)
        pair = limit - self.sends.get(key, 0) if limit is not None else None
        ip = self.capacity - loads.get(address, 0) if self.capacity is not None else None
        rooms = [r for r in (pair, ip) if r is not None]
        return max(0, min(rooms)) if rooms else 1 << 62

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


def over_limit(sends: Sends, limits: Mapping[tuple[str, str], int | None], capacity: int | None) -> int:
    """Mail carried past a pair's daily limit or an IP's capacity (rules 8 and 9)."""
    over = sum(max(0, n - limit) for key, n in sends.items() if (limit := limits.get(key)) is not None)
    if capacity is not None:
        over += sum(max(0, load - capacity) for load in _loads(sends).values())
    return over
