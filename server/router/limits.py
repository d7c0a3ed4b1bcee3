"""Today's picks per (IP, mailbox provider), against each pair's daily limit (SPEC rule 8)
released by the hour (rule 10, ``store.hourly_pacing``), and per dedicated IP against its
daily capacity (rule 9): the checks of the hot path, with no I/O.

Several routers share each limit by budget leasing (issue 16; ``leases.py`` asks PostgreSQL
for chunks): a router lets a pair carry what it *holds*, never more, and the routers'
holdings together never pass the limit, however unevenly the picks reach them. A check is
two dict lookups and a comparison in the common case: the pick is well under the pair's
``mark`` (what it holds less a low-water mark). At or past the mark it notes the pair as
``wanted`` for the lease manager, which asks for more before it runs out; a pick that finds
nothing left (``dry``) wakes the manager at once unless PostgreSQL just refused the pair
(``refused``: its cap is reached for now). A ``DailyLimits`` without a lease manager
(``leased=False``: tests, the simulator's replays, the in-process bench) holds every limit
whole, as one router alone.

Only pairs that have a limit are counted here (history counts everything). The day is the
UTC day number (days since 1970-01-01); counters and holdings start over when it changes.
The engine moves the hour on (``advance``) when its clock enters a new one; each
(hourly_burst, limit)'s paced limit is then computed once for the hour and only looked up.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

from store.hourly_pacing import HOURS_PER_DAY, paced_limit

SECONDS_PER_DAY = 86400
SECONDS_PER_HOUR = 3600
#: What a router without leases holds of every allowance: all of it.
WHOLE = 1 << 62

K = TypeVar("K", bound=Hashable)


def _no_wake(_first: bool) -> None:
    pass


class Ledger(Generic[K]):
    """One kind of allowance (pairs, or IPs' capacities): this router's counts and holdings today."""

    __slots__ = ("counts", "dry", "held", "marks", "refused", "wanted")

    def __init__(self) -> None:
        #: Today's picks by this router.
        self.counts: dict[K, int] = {}
        #: What this router was granted today (its own picks included).
        self.held: dict[K, int] = {}
        #: ``held`` less the low-water mark: a count at or past it goes the slow way.
        self.marks: dict[K, int] = {}
        #: Keys at or past their mark since the lease manager last looked, with the cap
        #: (paced limit or capacity) the pick saw.
        self.wanted: dict[K, int] = {}
        #: Picks that found the key with nothing left (demand not carried; overflowed).
        self.dry: dict[K, int] = {}
        #: Keys PostgreSQL granted nothing more in the last round: no early wake for them.
        self.refused: set[K] = set()

    def short(self, key: K, n: int, cap: int, wake: Callable[[bool], None]) -> bool:
        """The slow path of a check at or past the key's mark: note it for the lease
        manager; whether one more pick still fits in what is held."""
        self.wanted[key] = cap
        if n < self.held.get(key, 0):
            return True
        self.dry[key] = self.dry.get(key, 0) + 1
        if key not in self.refused:
            wake(key not in self.held)
        return False

    def hold(self, key: K, held: int) -> None:
        """Resume what PostgreSQL says this router holds; picks made by an earlier process
        under it are unknown, so all of it counts as used."""
        self.held[key] = held
        self.marks[key] = held
        self.counts[key] = max(self.counts.get(key, 0), held)


class DailyLimits:
    __slots__ = ("day", "free", "hour", "hours", "ips", "over_limit", "paced", "pairs", "wake")

    def __init__(self, day: int, *, leased: bool = False) -> None:
        self.day = day
        #: The UTC hour of ``day`` (0..23) whose part of each limit is released (rule 10).
        self.hour = 0
        #: Hours since 1970-01-01 at the last ``advance`` (-1: none yet).
        self.hours = -1
        #: What is held of an allowance this router has no lease on: nothing when the
        #: routers lease, everything when this one is alone.
        self.free = 0 if leased else WHOLE
        #: Warming pairs, by (address, provider).
        self.pairs: Ledger[tuple[str, str]] = Ledger()
        #: Today's picks per dedicated IP over all providers, for IPs with a capacity (rule 9).
        self.ips: Ledger[str] = Ledger()
        #: Picks counted on a pair (or IP) already at what this router may carry (nowhere
        #: else to send them).
        self.over_limit = 0
        #: The paced limit by hourly_burst, then limit, for ``hour``: computed once per
        #: hour and value (there are a few), then only looked up.
        self.paced: dict[float, dict[int, int]] = {}
        #: Called when a pick finds a pair or IP with nothing left (the lease manager's wake),
        #: with True when this router never held any of it today (its first ask).
        self.wake: Callable[[bool], None] = _no_wake

    @property
    def counts(self) -> dict[tuple[str, str], int]:
        return self.pairs.counts

    @property
    def ip_counts(self) -> dict[str, int]:
        return self.ips.counts

    def roll(self, day: int) -> None:
        """Start a new day when ``day`` is not the current one."""
        if day != self.day:
            self.day = day
            self.pairs = Ledger()
            self.ips = Ledger()

    def advance(self, hours: int) -> None:
        """Move to the UTC hour ``hours`` (since 1970-01-01), starting a new day if it is one."""
        day = hours // HOURS_PER_DAY
        self.roll(day)
        self.hours = hours
        self.hour = hours - day * HOURS_PER_DAY
        self.paced = {}

    def share(self, limit: int, hourly_burst: float) -> int:
        """The part of ``limit`` released by the end of the current hour, for all routers."""
        paced = self.paced.get(hourly_burst)
        if paced is None:
            paced = self.paced[hourly_burst] = {}
        released = paced.get(limit)
        if released is None:
            released = paced[limit] = paced_limit(limit, self.hour, hourly_burst)
        return released

    def headroom(self, address: str, provider: str, limit: int, hourly_burst: float) -> bool:
        """Whether one more pick fits in the pair's paced limit and in what this router holds of it."""
        key = (address, provider)
        pairs = self.pairs
        n = pairs.counts.get(key, 0)
        cap = self.share(limit, hourly_burst)
        if n >= cap:
            return False
        if n < pairs.marks.get(key, self.free):
            return True
        return pairs.short(key, n, cap, self.wake)

    def room(self, address: str, capacity: int) -> bool:
        """Whether one more pick fits in the IP's daily capacity (rule 9) and what this router holds of it."""
        ips = self.ips
        n = ips.counts.get(address, 0)
        if n >= capacity:
            return False
        if n < ips.marks.get(address, self.free):
            return True
        return ips.short(address, n, capacity, self.wake)

    def count(
        self, address: str, provider: str, limit: int | None, hourly_burst: float, capacity: int | None = None
    ) -> None:
        """One pick on the pair (when it has a ``limit``) and on the IP (when it has a ``capacity``);
        past either, or past what this router holds of either, it counts once in ``over_limit``."""
        over = False
        if limit is not None:
            key = (address, provider)
            pairs = self.pairs
            n = pairs.counts.get(key, 0) + 1
            pairs.counts[key] = n
            over = n > self.share(limit, hourly_burst) or (
                n > pairs.marks.get(key, self.free) and n > pairs.held.get(key, self.free)
            )
        if capacity is not None:
            ips = self.ips
            m = ips.counts.get(address, 0) + 1
            ips.counts[address] = m
            over = (
                over or m > capacity or (m > ips.marks.get(address, self.free) and m > ips.held.get(address, self.free))
            )
        if over:
            self.over_limit += 1

    def resume(self, day: int, rows: Iterable[tuple[str, str, int]]) -> None:
        """What this router (its ``router_id``) already holds today, from its lease rows:
        (address, provider or '' for the IP's capacity, leased). A router started again
        resumes its own leases rather than taking a fresh share."""
        self.roll(day)
        for address, provider, leased in rows:
            if provider:
                self.pairs.hold((address, provider), leased)
            else:
                self.ips.hold(address, leased)
