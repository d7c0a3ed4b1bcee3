"""Budget leasing (issue 16): the chunk arithmetic, the limits' checks against what a router
holds, and the lease manager's rounds against an in-memory store with PostgreSQL's rule."""

from __future__ import annotations

import asyncio

import pytest

from server.router.leases import LeaseManager, chunk_size, low_water, to_ask
from server.router.limits import DailyLimits
from tests.support.leases import MemoryLeases, run_now

DAY = 20_000
IP, OTHER = "198.51.100.1", "198.51.100.2"
PAIR = (IP, "google")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _router(store: MemoryLeases, name: str, clock: Clock, max_chunk: int = 10) -> tuple[DailyLimits, LeaseManager]:
    limits = DailyLimits(DAY, leased=True)
    limits.advance(DAY * 24 + 12)
    manager = LeaseManager(limits, store, name, interval=1.0, max_chunk=max_chunk, clock=clock)
    manager.resumed = True
    return limits, manager


def _take(limits: DailyLimits, n: int, limit: int = 100, capacity: int | None = None) -> int:
    """``n`` picks on ``PAIR`` as the engine makes them; how many fitted."""
    carried = 0
    for _ in range(n):
        fits = limits.headroom(IP, "google", limit, 0.0) and (capacity is None or limits.room(IP, capacity))
        if fits:
            limits.count(IP, "google", limit, 0.0, capacity)
            carried += 1
    return carried


# -- the arithmetic ------------------------------------------------------------------------


def test_a_chunk_lasts_four_rounds_at_the_rate_within_1_and_the_maximum() -> None:
    assert chunk_size(0.0, 1.0, 1000) == 1
    assert chunk_size(10.0, 0.5, 1000) == 20
    assert chunk_size(10_000.0, 1.0, 1000) == 1000


def test_the_low_water_mark_is_two_rounds_at_the_rate_and_at_most_half_a_chunk() -> None:
    assert low_water(0.0, 1.0, 1000) == 0
    assert low_water(10.0, 1.0, 1000) == 20
    assert low_water(10_000.0, 1.0, 1000) == 500


def test_a_router_asks_only_at_its_low_water_mark_and_tops_up_to_a_chunk() -> None:
    assert to_ask(21, 10.0, 1.0, 1000) == 0
    assert to_ask(20, 10.0, 1.0, 1000) == 20  # 40 - 20
    assert to_ask(0, 0.0, 1.0, 1000) == 1
    assert to_ask(-3, 0.0, 1.0, 1000) == 4  # a deficit carried with nowhere else to go


# -- the checks against what is held --------------------------------------------------------


def test_a_router_without_leases_holds_every_limit_whole() -> None:
    limits = DailyLimits(DAY)
    assert _take(limits, 150) == 100


def test_a_leasing_router_carries_nothing_it_does_not_hold_and_wakes_its_manager() -> None:
    limits = DailyLimits(DAY, leased=True)
    woken: list[bool] = []
    limits.wake = woken.append
    assert _take(limits, 3) == 0
    assert limits.pairs.wanted == {PAIR: 100} and limits.pairs.dry == {PAIR: 3}
    assert woken == [True] * 3  # never held today: its first ask
    limits.pairs.refused.add(PAIR)  # refused in the last round: no early wake
    assert _take(limits, 1) == 0 and len(woken) == 3


def test_a_pick_past_what_is_held_with_nowhere_else_counts_over_limit() -> None:
    limits = DailyLimits(DAY, leased=True)
    limits.pairs.held[PAIR] = 1
    limits.count(IP, "google", 100, 0.0)
    limits.count(IP, "google", 100, 0.0)
    assert limits.over_limit == 1


# -- the manager -----------------------------------------------------------------------------


def test_rounds_grant_chunks_that_never_add_up_past_the_limit() -> None:
    store, clock = MemoryLeases(), Clock()
    routers = [_router(store, f"r{i}", clock) for i in range(3)]
    carried = 0
    for _ in range(40):
        for (limits, manager), share in zip(routers, (90, 9, 1), strict=True):
            carried += _take(limits, share)
            run_now(manager.round(regular=True))
        clock.now += 1.0
    assert carried == 100
    assert store.budgets[(DAY, IP, "google")] == 100
    assert sum(limits.pairs.counts[PAIR] for limits, _ in routers) == 100


def test_a_router_asks_before_it_runs_out() -> None:
    store, clock = MemoryLeases(), Clock()
    limits, manager = _router(store, "r0", clock, max_chunk=1000)
    for _ in range(3):  # 20 picks a second: the first rounds learn the rate
        _take(limits, 20, limit=10_000)
        run_now(manager.round())
        clock.now += 1.0
    dry = limits.pairs.dry[PAIR]
    for _ in range(5):  # then each round tops it up while some is left
        assert _take(limits, 20, limit=10_000) == 20
        run_now(manager.round())
        clock.now += 1.0
    assert limits.pairs.dry[PAIR] == dry
    assert 0 < limits.pairs.held[PAIR] - limits.pairs.counts[PAIR] <= 80  # at most a chunk (4 rounds) unused


def test_a_refused_pair_is_asked_again_at_the_next_regular_round_only() -> None:
    store, clock = MemoryLeases(), Clock()
    a, ma = _router(store, "a", clock)
    b, mb = _router(store, "b", clock)
    for _ in range(20):
        _take(a, 10, limit=20)
        run_now(ma.round())
    assert a.pairs.held[PAIR] == 20
    _take(b, 1, limit=20)
    run_now(mb.round())
    assert PAIR in b.pairs.refused and mb.refusals == 1
    requests = mb.requests
    _take(b, 1, limit=20)
    run_now(mb.round(regular=False))  # a wake: the refused pair is not asked for
    assert mb.requests == requests


def test_an_idle_pair_gives_back_what_it_holds_unused() -> None:
    store, clock = MemoryLeases(), Clock()
    limits, manager = _router(store, "r0", clock)
    _take(limits, 5)
    run_now(manager.round())
    _take(limits, 1)
    held = limits.pairs.held[PAIR]
    assert held > limits.pairs.counts[PAIR]
    for _ in range(6):
        clock.now += 1.0
        run_now(manager.round())
    assert limits.pairs.held[PAIR] == limits.pairs.counts[PAIR] == 1
    assert store.budgets[(DAY, IP, "google")] == 1 and manager.given_back == held - 1


def test_a_clean_stop_gives_back_everything_unused_and_a_restart_resumes_its_row() -> None:
    store, clock = MemoryLeases(), Clock()
    limits, manager = _router(store, "r0", clock)
    _take(limits, 3)
    run_now(manager.round())
    _take(limits, 1)
    run_now(manager.give_back_all())
    assert store.leases[(DAY, "r0", IP, "google")] == 1 == store.budgets[(DAY, IP, "google")]
    assert _take(limits, 1) == 0  # nothing held any more
    again, manager2 = _router(store, "r0", clock)
    manager2.resumed = False
    run_now(manager2.resume())
    assert again.pairs.counts == {PAIR: 1} and again.pairs.held == {PAIR: 1}


def test_a_killed_router_restarted_counts_all_it_held_as_used() -> None:
    store, clock = MemoryLeases(), Clock()
    limits, manager = _router(store, "r0", clock)
    _take(limits, 4)
    run_now(manager.round())
    held = limits.pairs.held[PAIR]
    again, manager2 = _router(store, "r0", clock)
    manager2.resumed = False
    run_now(manager2.resume())
    assert again.pairs.counts[PAIR] == held  # it may have used any of it before it died


def test_the_ip_capacity_is_leased_like_a_pair() -> None:
    store, clock = MemoryLeases(), Clock()
    routers = [_router(store, f"r{i}", clock) for i in range(2)]
    carried = 0
    for _ in range(30):
        for limits, manager in routers:
            carried += _take(limits, 7, limit=1000, capacity=25)
            run_now(manager.round())
    assert carried == 25 and store.budgets[(DAY, IP, "")] == 25


def test_with_the_store_down_a_router_uses_what_it_holds_then_overflows() -> None:
    store, clock = MemoryLeases(), Clock()
    limits, manager = _router(store, "r0", clock)
    _take(limits, 1)
    run_now(manager.round())
    clock.now += 1.0
    _take(limits, 1)
    run_now(manager.round())
    left = limits.pairs.held[PAIR] - limits.pairs.counts[PAIR]
    store.down = True
    assert left > 0 and _take(limits, 100) == left
    with pytest.raises(OSError):
        run_now(manager.round())


def test_a_new_utc_day_starts_without_holdings() -> None:
    store, clock = MemoryLeases(), Clock()
    limits, manager = _router(store, "r0", clock)
    _take(limits, 2)
    run_now(manager.round())
    limits.advance((DAY + 1) * 24)
    assert limits.pairs.held == {} and _take(limits, 1) == 0
    run_now(manager.round())
    assert store.budgets[(DAY + 1, IP, "google")] >= 1


async def test_a_dry_pick_wakes_the_running_manager_well_before_its_next_round() -> None:
    store = MemoryLeases()
    limits = DailyLimits(DAY, leased=True)
    limits.advance(DAY * 24 + 12)
    manager = LeaseManager(limits, store, "r0", interval=30.0, max_chunk=10)
    stopping = asyncio.Event()
    task = asyncio.create_task(manager.run(stopping))
    await asyncio.sleep(0.05)  # its first round has run: nothing wanted yet
    assert manager.resumed and manager.requests == 0
    assert _take(limits, 1) == 0
    async with asyncio.timeout(1):  # 30 s to the next regular round: a wake comes at once
        while PAIR not in limits.pairs.held:
            await asyncio.sleep(0.01)
    assert _take(limits, 1) == 1 and manager.requests == 1
    stopping.set()
    await asyncio.wait_for(task, 1)


async def test_a_pair_never_held_today_is_asked_for_without_the_gap_between_wake_rounds() -> None:
    limits = DailyLimits(DAY, leased=True)
    limits.advance(DAY * 24 + 12)
    manager = LeaseManager(limits, MemoryLeases(), "r0", interval=30.0, max_chunk=10)
    stopping = asyncio.Event()
    task = asyncio.create_task(manager.run(stopping))
    await asyncio.sleep(0.05)
    other = ("198.51.100.2", "google")
    async with asyncio.timeout(1):  # the gap after a wake round is 1.5 s here
        for address, key in ((IP, PAIR), ("198.51.100.2", other)):
            assert not limits.headroom(address, "google", 100, 0.0)
            while key not in limits.pairs.held:
                await asyncio.sleep(0.01)
    assert manager.requests == 2
    stopping.set()
    await asyncio.wait_for(task, 1)
