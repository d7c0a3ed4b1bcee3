"""A small in-memory world that runs the policy day by day, as the rebalancer would.

Each simulated day D: IPs whose quarantine ended go back to their region's inventory;
every account is decided for D from the history before D and the actions are applied
(inventory, pool, quarantine); then the account "sends" D's mail along the routing entry
the decision produced. A pair sends ``min(planned, limit)``; in Transition the rest goes
to the shared pool, in Dedicated to the pool's warm IPs (rule 8) and only when there are
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
        dedicated = overflow = 0
        if route.providers:
            within_pool = overflows_within_pool(route.management_type)
            for provider, volume in by_provider.items():
                provider_route = route.route_for(provider)
                if provider_route is None or volume <= 0 or provider_route.dedicated_share <= 0:
                    continue
                planned = volume * provider_route.dedicated_share
                rest = 0
                warm: list[tuple[str, float]] = []
                sends: dict[str, int] = {}
                for ip in provider_route.ips:
                    if ip.weight <= 0:
                        continue
                    n = round(planned * ip.weight)
                    limit = ip.daily_limit
                    if limit is None:
                        warm.append((ip.address, ip.weight))
                    elif n > limit:
                        rest += n - limit
                        n = limit
                    if n > 0:
                        sends[ip.address] = n
                # The pool's IPs with room are its warm ones: a pair with a limit sends its
                # planned share (capped) and no more. The simulated regions always have a
                # general pool, so what the pool does not take is overflow.
                if rest and overflow_to(within_pool, bool(warm), True) == "pool":
                    weight_sum = sum(w for _, w in warm)
                    for address, weight in warm:
                        extra = round(rest * weight / weight_sum)
                        sends[address] = sends.get(address, 0) + extra
                    rest = 0
                overflow += rest
                bounce, complaint, deferral = self._rates(spec, index, provider)
                for address, n in sends.items():
                    dedicated += n
                    bounced = round(n * bounce)
                    deferred = min(n - bounced, round(n * deferral))
                    delivered = n - bounced - deferred
                    complained = min(delivered, round(n * complaint))
                    pairs[(address, provider)] = PairDay(n, Outcomes(delivered, deferred, bounced, complained))
        sim.window.append(DayHistory(day, by_provider, pairs))
        return Sent(total, dedicated, overflow, by_provider)

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
