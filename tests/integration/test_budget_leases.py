"""Budget leasing in PostgreSQL (issue 16): the conditional grant under routers racing for one
allowance, giving back, a dead router's lease, a restarted router resuming its own, and the
lease manager's rounds over the real statements."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import pytest

from server.router.history_buffer import day_of
from server.router.leases import Ask, Back, LeaseManager, PostgresLeases
from server.router.limits import DailyLimits

pytestmark = pytest.mark.integration

DAY = 20_000
IP = "198.51.100.1"


async def _budget(pool: asyncpg.Pool, provider: str = "google", ip: str = IP) -> int | None:
    value = await pool.fetchval(
        "SELECT leased FROM lease_budgets WHERE day = $1 AND ip = $2 AND mailbox_provider = $3",
        day_of(DAY),
        ip,
        provider,
    )
    return None if value is None else int(value)


async def _leases(pool: asyncpg.Pool) -> dict[str, tuple[int, int]]:
    rows = await pool.fetch(
        "SELECT router_id, leased, used FROM budget_leases WHERE day = $1 AND ip = $2 AND mailbox_provider = 'google'",
        day_of(DAY),
        IP,
    )
    return {r["router_id"]: (int(r["leased"]), int(r["used"])) for r in rows}


async def test_routers_racing_for_one_allowance_are_granted_exactly_its_cap(pool: asyncpg.Pool) -> None:
    store = PostgresLeases(pool)
    granted: dict[str, int] = {}

    async def router(name: str) -> None:
        rng = random.Random(name)
        while True:
            got = await store.grant(DAY, name, [Ask(IP, "google", 1000, rng.randint(1, 40), 0)])
            if not got:
                return
            granted[name] = granted.get(name, 0) + got[(IP, "google")]

    await asyncio.gather(*(router(f"r{i}") for i in range(8)))
    assert sum(granted.values()) == 1000 == await _budget(pool)
    assert {name: leased for name, (leased, _) in (await _leases(pool)).items()} == granted


async def test_many_keys_asked_in_opposite_orders_race_without_deadlock_or_excess(pool: asyncpg.Pool) -> None:
    store = PostgresLeases(pool)
    keys = [(f"198.51.100.{i}", provider) for i in range(1, 21) for provider in ("google", "yahoo", "")]

    async def router(name: str, order: list[tuple[str, str]]) -> int:
        total = 0
        for _ in range(30):
            got = await store.grant(DAY, name, [Ask(ip, p, 25, 7, 0) for ip, p in order])
            total += sum(got.values())
        return total

    totals = await asyncio.gather(*(router(f"r{i}", keys if i % 2 else keys[::-1]) for i in range(6)))
    assert sum(totals) == 25 * len(keys)
    assert await pool.fetchval("SELECT max(leased) FROM lease_budgets") == 25


async def test_a_higher_cap_grants_more_and_a_lower_one_nothing(pool: asyncpg.Pool) -> None:
    store = PostgresLeases(pool)
    assert await store.grant(DAY, "a", [Ask(IP, "google", 10, 50, 0)]) == {(IP, "google"): 10}
    assert await store.grant(DAY, "a", [Ask(IP, "google", 10, 5, 10)]) == {}  # the hour's cap is reached
    assert await store.grant(DAY, "b", [Ask(IP, "google", 30, 50, 0)]) == {(IP, "google"): 20}  # the next hour
    assert await store.grant(DAY, "b", [Ask(IP, "google", 5, 1, 0)]) == {}  # a rest lowered the limit
    assert await _budget(pool) == 30


async def test_giving_back_lets_another_router_have_it(pool: asyncpg.Pool) -> None:
    store = PostgresLeases(pool)
    await store.grant(DAY, "a", [Ask(IP, "google", 20, 20, 0), Ask(IP, "", 50, 20, 0)])
    assert await store.grant(DAY, "b", [Ask(IP, "google", 20, 5, 0)]) == {}
    await store.give_back(DAY, "a", [Back(IP, "google", 12, 8), Back(IP, "", 12, 8)])
    assert (await _leases(pool))["a"] == (8, 8)
    assert (await _budget(pool), await _budget(pool, "")) == (8, 8)
    assert await store.grant(DAY, "b", [Ask(IP, "google", 20, 50, 0)]) == {(IP, "google"): 12}
    # Giving back more than the router holds changes nothing.
    await store.give_back(DAY, "a", [Back(IP, "google", 9, 0)])
    assert (await _leases(pool))["a"] == (8, 8) and await _budget(pool) == 20


async def test_a_dead_routers_unused_lease_stays_written_off_and_its_restart_resumes_it(pool: asyncpg.Pool) -> None:
    store = PostgresLeases(pool)
    await store.grant(DAY, "a", [Ask(IP, "google", 100, 10, 4)])  # a holds 10 and dies after using some
    assert await store.grant(DAY, "b", [Ask(IP, "google", 100, 500, 0)]) == {(IP, "google"): 90}
    assert await store.held(DAY, "a") == [(IP, "google", 10)]
    restarted = DailyLimits(DAY, leased=True)
    restarted.resume(DAY, await store.held(DAY, "a"))
    # Whatever the dead process used of its 10 is unknown: all of it counts as used.
    assert restarted.counts == {(IP, "google"): 10}
    assert not restarted.headroom(IP, "google", 100, 0.0)


async def test_a_manager_leases_in_rounds_and_gives_back_at_a_clean_stop(pool: asyncpg.Pool) -> None:
    limits = DailyLimits(DAY, leased=True)
    limits.advance(DAY * 24 + 12)
    manager = LeaseManager(limits, PostgresLeases(pool), "a", interval=0.05, max_chunk=10)
    await manager.resume()
    carried = 0
    for _ in range(20):
        for _ in range(5):
            if limits.headroom(IP, "google", 30, 0.0):
                limits.count(IP, "google", 30, 0.0)
                carried += 1
        await manager.round()
    assert carried == 30 == await _budget(pool)
    assert manager.requests >= 3 and manager.leased_picks == 30
    # A clean stop with some unused: it goes back, the row keeps what was used.
    limits2 = DailyLimits(DAY, leased=True)
    limits2.advance(DAY * 24 + 12)
    other = LeaseManager(limits2, PostgresLeases(pool), "b", interval=0.05, max_chunk=10)
    limits2.headroom(IP, "google", 60, 0.0)
    await other.round()
    held = limits2.pairs.held[(IP, "google")]
    limits2.headroom(IP, "google", 60, 0.0)
    limits2.count(IP, "google", 60, 0.0)
    await other.give_back_all()
    assert held > 1 and (await _leases(pool))["b"] == (1, 1) and await _budget(pool) == 31


async def test_grants_and_give_backs_racing_over_many_keys_keep_the_books(pool: asyncpg.Pool) -> None:
    store = PostgresLeases(pool)
    keys = [(f"198.51.100.{i}", provider) for i in range(1, 16) for provider in ("google", "")]

    async def router(name: str, order: list[tuple[str, str]]) -> None:
        for _ in range(15):
            got = await store.grant(DAY, name, [Ask(ip, p, 40, 6, 0) for ip, p in order])
            await store.give_back(DAY, name, [Back(ip, p, n // 2, 0) for (ip, p), n in got.items()][::-1])

    await asyncio.gather(*(router(f"r{i}", keys if i % 2 else keys[::-1]) for i in range(6)))
    books = await pool.fetch(
        """SELECT b.ip, b.mailbox_provider, b.leased, sum(l.leased) AS held
           FROM lease_budgets b JOIN budget_leases l USING (day, ip, mailbox_provider)
           GROUP BY b.ip, b.mailbox_provider, b.leased"""
    )
    assert len(books) == len(keys)
    assert all(r["leased"] == r["held"] <= 40 for r in books), books
