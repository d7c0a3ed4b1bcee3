"""Properties of the router's limits over random routing entries and random days (hypothesis).

SPEC §2 rules 8, 9 and 10: a warming (IP, provider) pair never carries more than its daily
limit as released by the hour, and a dedicated IP never more than its ``ip_capacity`` a day,
whatever the entries, the number of routers, how unevenly the picks reach them, and routers
stopping (cleanly or killed) and starting again within the day. Mail is never refused for
it: past a limit a pick overflows, and only with no general pool to overflow to is it
carried over the limit (counted in ``over_limit``).

The picks run through the real code: the entries are compiled as the loader compiles them
(``compile_account``, ``compile_region``) and each of N routers has its own ``DailyLimits``
and ``LeaseManager``, leasing from one ``MemoryLeases`` (PostgreSQL's rule, in memory) in
rounds between the picks. One path calls ``pick`` and counts as the engine does; the other is
the engine itself (``Engine.choose`` on a fake clock). The check is written from the SPEC,
against ``store.hourly_pacing.paced_limit`` and the entries as written, not from the
router's counters: for every pair and every hour h, the picks of all routers on the pair by
the end of hour h, and for every IP the picks of the whole day.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sendingip.v1 import types_pb2
from server.router.engine import Engine
from server.router.history_buffer import HistoryBuffer
from server.router.leases import LeaseManager
from server.router.limits import SECONDS_PER_DAY, SECONDS_PER_HOUR, DailyLimits
from server.router.pick import NoGeneralPool, pick
from server.router.pick import draw as hash_draw
from server.router.table import RoutingTable, compile_account, compile_region
from store.hourly_pacing import HOURS_PER_DAY, paced_limit
from store.routing_entry import AccountRoute, DedicatedIP, ProviderRoute, RegionRoute
from tests.support.leases import MemoryLeases, run_now

DAY = 20_000  # a UTC day number
REGION = "r1"
#: Providers an entry may name, and those a request may come for ("apple" is never named:
#: it takes the entry's "other" route, or the general pool).
NAMED = ("google", "microsoft", "other")
ASKED = ("google", "microsoft", "other", "apple")
DEDICATED = types_pb2.POOL_TYPE_DEDICATED


@dataclass(frozen=True)
class Pick:
    router: int
    account: int
    provider: str
    hour: int


@dataclass(frozen=True)
class Restart:
    """Router ``router`` stops before pick ``at`` and starts again under the same router_id:
    giving back what it holds (``clean``), or killed (keeping it)."""

    at: int
    router: int
    clean: bool


@dataclass(frozen=True)
class World:
    routers: int
    accounts: tuple[AccountRoute, ...]
    region: RegionRoute
    picks: tuple[Pick, ...]
    restarts: tuple[Restart, ...] = ()
    #: Most picks a router holds unused per pair (``SENDINGIP_LEASE_MAX_CHUNK``).
    max_chunk: int = 5


def ip_strategy(address: str) -> st.SearchStrategy[DedicatedIP]:
    weight = st.sampled_from([0.0, 0.5, 1.0, 1.0, 3.0])
    limit = st.one_of(st.none(), st.integers(min_value=0, max_value=30), st.integers(min_value=0, max_value=30))
    return st.builds(DedicatedIP, st.just(address), weight, limit)


@st.composite
def account_strategy(draw: st.DrawFn, index: int) -> AccountRoute:
    addresses = [f"198.51.{index}.{i}" for i in range(1, draw(st.integers(1, 4)) + 1)]
    providers: dict[str, ProviderRoute] = {}
    for name in draw(st.lists(st.sampled_from(NAMED), unique=True, min_size=1, max_size=len(NAMED))):
        chosen = draw(st.lists(st.sampled_from(addresses), unique=True, min_size=1))
        share = draw(st.sampled_from([1.0, 0.0, 0.3, 0.8, 1.0, 1.0]))
        providers[name] = ProviderRoute(share, tuple(draw(ip_strategy(a)) for a in chosen))
    return AccountRoute(
        f"acct-{index}",
        REGION,
        draw(st.sampled_from(["transition", "dedicated", "dedicated", "dedicated", "general"])),
        date(2024, 10, 5),
        f"dedicated-{index}",
        providers,
        hourly_burst=draw(st.one_of(st.sampled_from([0.0, 1.0, 2.0, 24.0]), st.floats(0.2, 30.0))),
        ip_capacity=draw(st.one_of(st.none(), st.integers(min_value=0, max_value=90))),
    )


@st.composite
def worlds(draw: st.DrawFn) -> World:
    routers = draw(st.integers(min_value=1, max_value=4))
    accounts = tuple(draw(account_strategy(i)) for i in range(draw(st.integers(1, 3))))
    size = draw(st.sampled_from([0, 1, 2, 3, 3]))  # 0: a region without a general pool
    addresses = tuple(f"10.0.0.{i}" for i in range(1, size + 1))
    weights: tuple[float, ...] = ()
    if size and draw(st.booleans()):  # an IP ramping in (rule 12)
        raw = draw(st.lists(st.floats(0.05, 1.0), min_size=size, max_size=size))
        weights = tuple(w / sum(raw) for w in raw)
    region = RegionRoute(REGION, "general-r1", addresses, weights)
    # Many picks, cheaply: a seeded generator, the count and the seed shrink. Routers take
    # uneven shares (each its own weight); the hours are spread over the day.
    rng = random.Random(draw(st.integers(0, 2**32)))
    count = draw(st.sampled_from([10, 100, 300, 600]))
    skew = [rng.choice([0.1, 1.0, 5.0]) for _ in range(routers)]
    picks = [
        Pick(
            rng.choices(range(routers), skew)[0],
            rng.randrange(len(accounts)),
            rng.choice(ASKED),
            rng.randrange(HOURS_PER_DAY),
        )
        for _ in range(count)
    ]
    restarts = tuple(
        Restart(rng.randrange(count + 1), rng.randrange(routers), rng.random() < 0.5)
        for _ in range(draw(st.sampled_from([0, 0, 1, 3])))
    )
    max_chunk = draw(st.sampled_from([1, 5, 50]))
    return World(routers, accounts, region, tuple(sorted(picks, key=lambda p: p.hour)), restarts, max_chunk)


class Clock:
    """A router's clock, set by the test before each pick."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


#: One pick on router ``r`` at ``hour`` of ``DAY``: (ip, pool type) it answered.
Route = Callable[[int, int, str, str, int], tuple[str, int]]


class Routers:
    """N routers leasing from one store; a router restarted gets new limits and a new
    manager under its old router_id (its engine, if any, keeps the table)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.store = MemoryLeases()
        self.seconds = Clock()  # the lease managers' clock: a tenth of a second a pick
        self.limits: list[DailyLimits] = []
        self.managers: list[LeaseManager] = []
        self.over_limit = 0
        for r in range(world.routers):
            self.limits.append(DailyLimits(DAY))
            self.managers.append(self._manager(r))

    def _manager(self, r: int) -> LeaseManager:
        limits = self.limits[r] = DailyLimits(DAY, leased=True)
        manager = LeaseManager(
            limits, self.store, f"router-{r}", interval=1.0, max_chunk=self.world.max_chunk, clock=self.seconds
        )
        run_now(manager.resume())
        return manager

    def restart(self, one: Restart) -> None:
        if one.clean:
            run_now(self.managers[one.router].give_back_all())
        self.over_limit += self.limits[one.router].over_limit
        self.managers[one.router] = self._manager(one.router)

    def after_pick(self, r: int, i: int) -> None:
        """A wake round on the router that picked; every 10 picks a regular round on all."""
        self.seconds.now = i / 10
        run_now(self.managers[r].round(regular=False))
        if i % 10 == 0:
            for manager in self.managers:
                run_now(manager.round(regular=True))


def run_picks(world: World, path: str) -> tuple[list[tuple[Pick, str, int]], int]:
    """Every pick of ``world`` through the router's code along ``path``; the answers and
    the routers' ``over_limit`` summed. ``NoGeneralPool`` answers nothing (no IP at all)."""
    table = RoutingTable(loaded=True)
    table.regions[REGION] = compile_region(world.region, 1)
    for entry in world.accounts:
        table.accounts[entry.account_id] = compile_account(entry, 2)
    routers = Routers(world)
    limits = routers.limits
    route: Route
    if path == "engine":
        clocks = [Clock() for _ in limits]
        engines = [
            Engine(table, lim, HistoryBuffer(10_000), default_region=REGION, clock=clock)
            for lim, clock in zip(limits, clocks, strict=True)
        ]

        def route(r: int, hour: int, account_id: str, provider: str, i: int) -> tuple[str, int]:
            clocks[r].now = DAY * SECONDS_PER_DAY + hour * SECONDS_PER_HOUR + i % SECONDS_PER_HOUR
            engines[r].limits = limits[r]  # a new one after a restart
            answer = engines[r].choose(account_id, f"<{i}@x>", REGION, provider, False)
            return answer.ip, answer.pool_type

    else:

        def route(r: int, hour: int, account_id: str, provider: str, i: int) -> tuple[str, int]:
            lim = limits[r]
            hours = DAY * HOURS_PER_DAY + hour
            if hours != lim.hours:
                lim.advance(hours)
            u, k = hash_draw(account_id, f"<{i}@x>")
            account = table.accounts.get(account_id)
            choice = pick(account, table.regions[REGION], REGION, provider, u, k, lim.headroom, lim.room)
            if choice.limit is not None or choice.capacity is not None:
                lim.count(choice.ip, provider, choice.limit, choice.hourly_burst, choice.capacity)
            return choice.ip, choice.pool_type

    answers = []
    restarts = sorted(world.restarts, key=lambda x: x.at)
    for i, one in enumerate(world.picks):
        while restarts and restarts[0].at <= i:
            routers.restart(restarts.pop(0))
        account_id = world.accounts[one.account].account_id
        try:
            ip, pool_type = route(one.router, one.hour, account_id, one.provider, i)
        except NoGeneralPool:
            assert not world.region.addresses
            continue
        finally:
            routers.after_pick(one.router, i)
        answers.append((one, ip, pool_type))
    return answers, routers.over_limit + sum(lim.over_limit for lim in limits)


def pair_limit(entry: AccountRoute, address: str, provider: str) -> int | None:
    """The entry's limit for (address, provider): the IP must be in the provider's route
    with a weight (a dedicated pick never lands anywhere else)."""
    route = entry.route_for(provider)
    assert route is not None and route.dedicated_share > 0, (entry, provider)
    found = [ip for ip in route.ips if ip.address == address and ip.weight > 0]
    assert len(found) == 1, (address, provider, route)
    return found[0].daily_limit


def check_limits(world: World, answers: Sequence[tuple[Pick, str, int]]) -> None:
    """Rules 8-10 from the SPEC: per (pair, hour) the picks so far within the paced limit,
    per IP the day's picks within the capacity."""
    by_pair_hour: dict[tuple[str, str], list[int]] = {}
    by_ip: dict[str, int] = {}
    for one, ip, pool_type in answers:
        if pool_type != DEDICATED:
            assert ip in world.region.addresses
            continue
        entry = world.accounts[one.account]
        limit = pair_limit(entry, ip, one.provider)
        by_ip[ip] = by_ip.get(ip, 0) + 1
        if limit is not None:
            hours = by_pair_hour.setdefault((ip, one.provider), [0] * HOURS_PER_DAY)
            hours[one.hour] += 1
    owner = {ip.address: entry for entry in world.accounts for r in entry.providers.values() for ip in r.ips}
    for (ip, provider), hours in by_pair_hour.items():
        entry = owner[ip]
        limit = pair_limit(entry, ip, provider)
        assert limit is not None
        so_far = 0
        for hour, n in enumerate(hours):
            so_far += n
            allowed = paced_limit(limit, hour, entry.hourly_burst)
            assert so_far <= allowed, f"{ip}/{provider}: {so_far} picks by the end of hour {hour} > {allowed}"
        if any(sum(hours[: h + 1]) == paced_limit(limit, h, entry.hourly_burst) > 0 for h in range(HOURS_PER_DAY)):
            event("a pair reached its paced limit in some hour")
    for ip, n in by_ip.items():
        capacity = owner[ip].ip_capacity
        if capacity is not None:
            assert n <= capacity, f"{ip}: {n} picks today > ip_capacity {capacity}"
            if n == capacity and capacity:
                event("an IP carried exactly its capacity")


@pytest.mark.parametrize("path", ["pick", "engine"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds())
def test_no_pair_or_ip_is_ever_over_its_paced_limit_or_capacity(path: str, world: World) -> None:
    answers, over_limit = run_picks(world, path)
    if world.region.addresses or over_limit == 0:
        check_limits(world, answers)
        assert over_limit == 0, "a pick was counted over a limit although the region has a general pool"
    else:
        event("no general pool: carried over a limit")
    event(f"{world.routers} routers")
    if world.restarts:
        event("routers restarted within the day")
    dedicated = sum(pool_type == DEDICATED for _, _, pool_type in answers)
    event(f"dedicated picks: {'none' if not dedicated else 'some' if dedicated < 50 else '50+'}")
    if any(pool_type != DEDICATED for _, _, pool_type in answers) and any(
        pool_type == DEDICATED for _, _, pool_type in answers
    ):
        event("both pools used")
