"""A small in-memory world that runs the policy day by day, as the rebalancer would.

Each simulated day D: IPs whose quarantine ended go back to their region's inventory;
general-pool IPs added on D join their region's shared pool and the ramping ones move on
(rule 12, ``general``); every account is decided for D from the history before D and the
actions are applied (inventory, pool, quarantine); then the account "sends" D's mail along
the routing entry the decision produced (``allocate``): a pair sends at most its limit as
released by the hour (rules 8 and 10), an IP at most ``ip_daily_capacity`` over all
providers (rule 9), and a pair the same-day breaker trips or a throttle rests (rule 11,
``rests``) less; in Transition the rest goes to the shared pool, in Dedicated to the pool's
other IPs with room and only when there are none to the shared pool (counted as
overflow): the router's rule, ``store.overflow``. The pairs that sent and their outcomes
become D's history; what the accounts did not send through their own IPs is the shared
pool's day.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date

from store.breaker import Trip
from store.routing_entry import AccountRoute
from workers.policy import (
    AccountState,
    AssignIP,
    ChangeManagementType,
    DayHistory,
    Decision,
    PairDay,
    PairState,
    Policy,
    ReleaseToQuarantine,
    StartDrain,
    decide,
)
from workers.simulate.allocate import Allocation, Key, allocate
from workers.simulate.general import GeneralPool
from workers.simulate.rests import DayRests, Rates, day_outcomes, hold_caps, throttle_rests
from workers.simulate.scenario import AccountSpec, Scenario

__all__ = ["AccountSim", "DayResult", "Sent", "World", "allocate"]


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
    #: Pairs the same-day breaker held for the rest of the day (rule 11), with why.
    trips: tuple[tuple[Key, str], ...] = ()
    #: (provider, UTC hour, why) of throttles that rested the account's pairs (rule 11).
    throttles: tuple[tuple[str, int, str], ...] = ()


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
        #: Each region's shared pool: its IPs and their ramp-in (rule 12).
        self.general: dict[str, GeneralPool] = {r.name: GeneralPool() for r in scenario.regions}
        for region in scenario.regions:
            self.general[region.name].add(region.general_pool, warm=True)
        #: Per region, the day's mail its shared pool carried.
        self.general_sent: dict[str, int] = dict.fromkeys(self.general, 0)
        #: The day's same-day breaker verdicts by outcome rates (``rests.hold_caps``).
        self._verdicts: dict[Rates, Trip | None] = {}
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
        self._ramp_general(index)
        results = []
        self._verdicts = {}
        shared = dict.fromkeys(self.general, 0)
        for sim in self.accounts:
            decision = self._decide(sim, index, day)
            sent = self._send(sim, index, day, decision.route)
            # At least 0: the route's per-pair rounding can plan a message more than the day has.
            shared[sim.spec.region] += max(0, sent.volume - sent.dedicated)
            results.append(DayResult(index, day, sim, decision, sent))
        for region, messages in shared.items():
            self.general[region].send(self.policy, messages)
        self.general_sent = shared
        return results

    def _ramp_general(self, index: int) -> None:
        """The rebalancer's run: yesterday's carrying IPs move on; today's additions join."""
        for region in self.scenario.regions:
            pool = self.general[region.name]
            pool.advance(self.policy)
            for day, addresses in region.general_added:
                if day == index:
                    pool.add(addresses, warm=False)

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
        own = self.policy.for_account(spec.account_id)  # its overrides (SPEC §2, v2)
        decision = decide(own, sim.state, sim.pairs, sim.window, inventory, day)
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
        by_provider = _split(total, spec.mix_on(index))
        placed = Allocation()
        rests = DayRests()
        rates: dict[str, Rates] = {}
        if route.providers:
            rates = {provider: self._rates(spec, index, provider) for provider in by_provider}
            rests = self._rests(spec, index, day, route, by_provider, rates)
            has_general_pool = bool(self.general[spec.region].addresses)
            placed = allocate(
                route,
                by_provider,
                has_general_pool,
                profile=spec.hourly_profile,
                caps=rests.caps,
                rested=rests.rested,
            )
        pairs: dict[tuple[str, str], PairDay] = {}
        for key, n in placed.sends.items():
            if n > 0:
                pairs[key] = PairDay(n, day_outcomes(n, rates[key[1]]))
        sim.window.append(DayHistory(day, by_provider, pairs))
        dedicated = sum(pair.sent for pair in pairs.values())
        trips = tuple((key, rests.reasons[key]) for key, cap in rests.caps.items() if placed.sends.get(key, 0) >= cap)
        self._note_rests(sim, index, trips, rests.throttles)
        return Sent(total, dedicated, placed.overflow, by_provider, placed.over_limit, trips, tuple(rests.throttles))

    def _rests(
        self,
        spec: AccountSpec,
        index: int,
        day: date,
        route: AccountRoute,
        by_provider: Mapping[str, int],
        rates: Mapping[str, Rates],
    ) -> DayRests:
        """Rule 11 for the day: the pairs the breaker caps and the hours throttles rest."""
        live = [
            (ip.address, provider)
            for provider in by_provider
            if (provider_route := route.route_for(provider)) is not None and provider_route.dedicated_share > 0
            for ip in provider_route.ips
            if ip.weight > 0
        ]
        rests = DayRests()
        if not live:
            return rests
        hold_caps(self.policy, day, live, rates, rests, self._verdicts)
        for throttle in spec.throttles:
            if throttle.day == index:
                throttle_rests(self.policy, day, throttle.hour, throttle.provider, live, rests)
        return rests

    @staticmethod
    def _note_rests(
        sim: AccountSim, index: int, trips: tuple[tuple[Key, str], ...], throttles: list[tuple[str, int, str]]
    ) -> None:
        for _, text in trips:
            sim.events.append((index, text))
        for _, hour, text in throttles:
            sim.events.append((index, f"throttled at {hour:02d}:00 UTC: {text}"))

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
