"""Budget leasing (issue 16; the shape of Google's Doorman): exact daily limits across routers.

Each router holds chunks of every allowance it uses — a warming (IP, provider) pair's daily
limit as released by the hour (rules 8, 10) and a dedicated IP's capacity (rule 9) — leased
from PostgreSQL by a conditional upsert that never lets the chunks of all routers together
pass the allowance's cap (``router_lease_grant``). The pick path only compares counts with
what is held (``limits.py``); this task does the asking, off the hot path:

* a round every ``interval`` seconds asks, in one statement for all of them, for the keys
  whose picks reached their low-water mark since the last round; a pick that finds a key
  with nothing left wakes it at once (wake rounds in a row at most every ``WAKE_GAP`` of
  the interval), unless PostgreSQL refused that key in the last round (its cap is reached
  until the next hour or until another router gives some back);
* a chunk lasts ``CHUNK_ROUNDS`` rounds at the key's rate (its picks, carried or not, per
  second), at least 1 and at most ``max_chunk``; the low-water mark is the picks of
  ``LOW_ROUNDS`` rounds (at most half a chunk). What a router holds unused is thus never
  more than one chunk: a router that dies takes at most ``max_chunk`` picks of each key
  with it (written off for the day: it may have used any of them after it last reported,
  so reclaiming them could carry a pair over its limit);
* a key without a pick for ``IDLE_ROUNDS`` rounds gives back what is unused, as a clean
  stop gives back everything (``give_back_all``);
* a router started again with the same router_id resumes its own lease rows
  (``resume``), counting them as used.

While PostgreSQL is away nothing new is granted: the router carries what it holds, and
picks past it overflow as at the limit. The chunk and low-water arithmetic is pure
(``chunk_size``, ``low_water``, ``to_ask``); ``LeaseManager`` is the shell around a
``LeaseStore`` (``PostgresLeases`` here, an in-memory one in the tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypeVar

import asyncpg

from server.router.history_buffer import day_of
from server.router.limits import DailyLimits, Ledger
from store import queries
from store.outage import DATABASE_UNAVAILABLE, Outage

log = logging.getLogger(__name__)

#: A refill is asked for when what is left would last fewer rounds than this.
LOW_ROUNDS = 2.0
#: Rounds a chunk lasts at the key's rate.
CHUNK_ROUNDS = 4.0
#: Regular rounds without a pick on a key before its unused part is given back.
IDLE_ROUNDS = 5
#: Weight of the newest measurement in a key's rate.
RATE_WEIGHT = 0.5
#: A dry key wakes the manager no sooner than this part of the interval after a round.
WAKE_GAP = 0.05
#: Seconds a lease statement may take.
STATEMENT_TIMEOUT = 5.0

#: An allowance as PostgreSQL names it: (IP, mailbox provider), or (IP, '') for the IP's capacity.
LeaseKey = tuple[str, str]
K = TypeVar("K", bound=Hashable)


def chunk_size(rate: float, interval: float, max_chunk: int) -> int:
    """Picks to hold at a time for a key used ``rate`` times a second: ``CHUNK_ROUNDS`` rounds' worth."""
    return max(1, min(max_chunk, math.ceil(rate * CHUNK_ROUNDS * interval)))


def low_water(rate: float, interval: float, max_chunk: int) -> int:
    """What is left when a refill is asked for: ``LOW_ROUNDS`` rounds' worth, at most half a chunk."""
    return min(math.ceil(rate * LOW_ROUNDS * interval), chunk_size(rate, interval, max_chunk) // 2)


def to_ask(remaining: int, rate: float, interval: float, max_chunk: int) -> int:
    """0 while ``remaining`` is above the low-water mark; else what tops it up to a chunk
    (a deficit, picks carried past what was held with nowhere else to go, is asked for too)."""
    if remaining > low_water(rate, interval, max_chunk):
        return 0
    return chunk_size(rate, interval, max_chunk) - remaining


class Ask(NamedTuple):
    ip: str
    provider: str
    cap: int
    want: int
    used: int


class Back(NamedTuple):
    ip: str
    provider: str
    back: int
    used: int


class LeaseStore(Protocol):
    async def grant(self, day: int, router_id: str, asks: Sequence[Ask]) -> dict[LeaseKey, int]:
        """Grant up to each ask's ``want``, the key's total staying within its ``cap``; what was granted."""
        ...

    async def give_back(self, day: int, router_id: str, backs: Sequence[Back]) -> None: ...

    async def held(self, day: int, router_id: str) -> list[tuple[str, str, int]]:
        """(ip, provider, leased) of every key this router holds on ``day``."""
        ...


class PostgresLeases:
    """The lease statements of ``store/queries/router.sql``."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def grant(self, day: int, router_id: str, asks: Sequence[Ask]) -> dict[LeaseKey, int]:
        if not asks:
            return {}
        columns = list(zip(*asks, strict=True))
        async with asyncio.timeout(STATEMENT_TIMEOUT), self.pool.acquire() as conn:
            rows = await conn.fetch(queries.load()["router_lease_grant"], day_of(day), router_id, *columns)
        return {(r["ip"], r["mailbox_provider"]): int(r["granted"]) for r in rows}

    async def give_back(self, day: int, router_id: str, backs: Sequence[Back]) -> None:
        if not backs:
            return
        columns = list(zip(*backs, strict=True))
        async with asyncio.timeout(STATEMENT_TIMEOUT), self.pool.acquire() as conn:
            await conn.execute(queries.load()["router_lease_give_back"], day_of(day), router_id, *columns)

    async def held(self, day: int, router_id: str) -> list[tuple[str, str, int]]:
        async with asyncio.timeout(STATEMENT_TIMEOUT), self.pool.acquire() as conn:
            rows = await conn.fetch(queries.load()["router_leases_held"], day_of(day), router_id)
        return [(r["ip"], r["mailbox_provider"], int(r["leased"])) for r in rows]


@dataclass(slots=True)
class Demand:
    """A key's picks (carried or dry) as last seen, their rate, and the regular rounds without any."""

    seen: int
    at: float
    rate: float = 0.0
    checked: int = 0
    idle: int = 0

    def observe(self, total: int, now: float) -> float:
        """The rate with ``total`` picks at ``now``."""
        if now > self.at:
            measured = (total - self.seen) / (now - self.at)
            self.rate = RATE_WEIGHT * measured + (1 - RATE_WEIGHT) * self.rate if self.rate else measured
            self.seen, self.at = total, now
        return self.rate


@dataclass
class Round:
    """What one round asks for and gives back, and where each grant goes."""

    asks: list[Ask] = field(default_factory=list)
    to: list[tuple[Ledger[Any], Any, float]] = field(default_factory=list)
    backs: list[Back] = field(default_factory=list)


def _pair_key(key: tuple[str, str]) -> LeaseKey:
    return key


def _ip_key(key: str) -> LeaseKey:
    return (key, "")


class LeaseManager:
    def __init__(
        self,
        limits: DailyLimits,
        store: LeaseStore,
        router_id: str,
        *,
        interval: float = 1.0,
        max_chunk: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.store = store
        self.router_id = router_id
        self.interval = interval
        self.max_chunk = max_chunk
        self.clock = clock
        #: Grant statements sent (``sendingip_lease_requests_total``).
        self.requests = 0
        #: Picks granted, given back, and keys asked for that got nothing.
        self.leased_picks = 0
        self.given_back = 0
        self.refusals = 0
        self.failures = 0
        self.resumed = False
        self._day = limits.day
        self._demand: dict[LeaseKey, Demand] = {}
        self._wake = asyncio.Event()
        #: A key never held today is dry: its first ask waits for no gap (it cannot spin:
        #: after one round it is held or refused).
        self._first = asyncio.Event()
        limits.wake = self._woken
        self._outage = Outage(log, f"leases router_id={router_id}")

    # -- the shell ---------------------------------------------------------------------

    async def resume(self) -> None:
        """This router's own leases of today (a restart with the same router_id)."""
        day = self.limits.day
        rows = await self.store.held(day, self.router_id)
        if self.limits.day == day:
            self.limits.resume(day, rows)
            if rows:
                log.info("leases resumed router_id=%s keys=%d", self.router_id, len(rows))
        self.resumed = True

    async def run(self, stopping: asyncio.Event) -> None:
        """Rounds until ``stopping``: a regular one every ``interval``, and one as soon as a
        pick finds a key with nothing left (after a round that was itself such a wake, no
        sooner than ``WAKE_GAP`` of the interval unless the key was never held today; after a
        failed round, none before the next regular one, so an outage is not hammered)."""
        next_regular = self.clock()
        while not stopping.is_set():
            regular = self.clock() >= next_regular
            if regular:
                next_regular = self.clock() + self.interval
            self._wake.clear()  # this round serves every wake so far; later ones are kept for the next
            self._first.clear()
            try:
                if not self.resumed:
                    await self.resume()
                await self.round(regular)
                self._outage.recovered()
            except DATABASE_UNAVAILABLE as exc:
                self.failures += 1
                self._outage.failed(exc, "picks use what this router holds, past it they overflow")
                await _wait(stopping, next_regular - self.clock())
                continue
            if not regular:
                gap = min(self.interval * WAKE_GAP, next_regular - self.clock())
                await _wait_either(stopping, self._first, gap)
            await _wait_either(stopping, self._wake, next_regular - self.clock())

    def _woken(self, first: bool) -> None:
        self._wake.set()
        if first:
            self._first.set()

    async def round(self, regular: bool = True) -> None:
        """Ask for the keys at their low-water mark; on a ``regular`` round also retry the
        refused keys and give back what idle keys hold."""
        limits = self.limits
        day = limits.day
        if day != self._day:
            self._day, self._demand = day, {}
        now = self.clock()
        plan = Round()
        if regular:
            limits.pairs.refused.clear()
            limits.ips.refused.clear()
        self._plan_asks(limits.pairs, _pair_key, plan, now)
        self._plan_asks(limits.ips, _ip_key, plan, now)
        if regular:
            self._plan_backs(limits.pairs, _pair_key, plan)
            self._plan_backs(limits.ips, _ip_key, plan)
        if plan.asks:
            self.requests += 1
            granted = await self.store.grant(day, self.router_id, plan.asks)
            if limits.day == day:
                self._apply(plan, granted)
        if plan.backs:
            await self._give_back(day, plan.backs)

    async def give_back_all(self) -> None:
        """At a clean stop: everything held and unused goes back (no pick may use it after)."""
        plan = Round()
        self._plan_backs(self.limits.pairs, _pair_key, plan, idle_rounds=0)
        self._plan_backs(self.limits.ips, _ip_key, plan, idle_rounds=0)
        if plan.backs:
            await self._give_back(self.limits.day, plan.backs)
            log.info(
                "leases given back router_id=%s keys=%d picks=%d",
                self.router_id,
                len(plan.backs),
                sum(b.back for b in plan.backs),
            )

    async def _give_back(self, day: int, backs: list[Back]) -> None:
        await self.store.give_back(day, self.router_id, backs)
        self.given_back += sum(b.back for b in backs)

    # -- the arithmetic --------------------------------------------------------------

    def _observe(self, key: LeaseKey, total: int, now: float) -> float:
        demand = self._demand.get(key)
        if demand is None:  # first seen now; its picks so far came within about a round
            demand = self._demand[key] = Demand(0, now - self.interval, checked=total)
        return demand.observe(total, now)

    def _plan_asks(self, ledger: Ledger[K], to_db: Callable[[K], LeaseKey], plan: Round, now: float) -> None:
        wanted, ledger.wanted = ledger.wanted, {}
        refused = ledger.refused
        for key, cap in wanted.items():
            if key in refused:  # asked again at the next regular round (which clears them)
                continue
            count = ledger.counts.get(key, 0)
            held = ledger.held.get(key, 0)
            rate = self._observe(to_db(key), count + ledger.dry.get(key, 0), now)
            want = to_ask(held - count, rate, self.interval, self.max_chunk)
            if want <= 0:
                continue
            if held >= cap:  # this router holds all there is: nothing to ask
                ledger.refused.add(key)
                continue
            ip, provider = to_db(key)
            plan.asks.append(Ask(ip, provider, cap, want, count))
            plan.to.append((ledger, key, rate))

    def _apply(self, plan: Round, granted: dict[LeaseKey, int]) -> None:
        for ask, (ledger, key, rate) in zip(plan.asks, plan.to, strict=True):
            n = granted.get((ask.ip, ask.provider), 0)
            if n <= 0:
                ledger.refused.add(key)
                self.refusals += 1
                continue
            held = ledger.held.get(key, 0) + n
            ledger.held[key] = held
            ledger.marks[key] = held - low_water(rate, self.interval, self.max_chunk)
            self.leased_picks += n

    def _plan_backs(
        self, ledger: Ledger[K], to_db: Callable[[K], LeaseKey], plan: Round, *, idle_rounds: int = IDLE_ROUNDS
    ) -> None:
        """What idle keys hold unused (every key's, with ``idle_rounds`` 0): taken from the
        hot path at once, before it is sent, so that no pick can use it meanwhile."""
        for key, held in ledger.held.items():
            count = ledger.counts.get(key, 0)
            if held <= count:
                continue
            dbkey = to_db(key)
            if idle_rounds:
                demand = self._demand.get(dbkey)
                total = count + ledger.dry.get(key, 0)
                if demand is None or demand.checked != total:
                    if demand is not None:
                        demand.checked, demand.idle = total, 0
                    continue
                demand.idle += 1
                if demand.idle < idle_rounds:
                    continue
            ledger.held[key] = ledger.marks[key] = count
            plan.backs.append(Back(dbkey[0], dbkey[1], held - count, count))


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), seconds)


async def _wait_either(a: asyncio.Event, b: asyncio.Event, seconds: float) -> None:
    """Until ``a`` or ``b`` is set, at most ``seconds``."""
    if seconds <= 0 or a.is_set() or b.is_set():
        return
    waiters = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
