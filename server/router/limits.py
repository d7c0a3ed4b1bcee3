"""Today's picks per (IP, mailbox provider), against each pair's daily limit (SPEC rule 8),
released by the hour (rule 10, ``store.hourly_pacing``).

With N live routers each enforces ``paced_limit(limit, hour, hourly_burst) // N`` of every
limit, so together they never exceed it. Only pairs that have a limit are counted here
(history counts everything). The day is the UTC day number (days since 1970-01-01);
counters start over when it changes. The engine moves the hour on (``advance``) when its
clock enters a new one; each (hourly_burst, limit)'s share is then computed once for the
hour, and a pair lookup only looks it up.

Rule 9: an account's entry may also cap each of its dedicated IPs (``ip_capacity``): the
picks of the day on the IP summed over providers, warm pairs and warming, each router
enforcing ``capacity // N`` (not paced by the hour). ``room`` is the check, one dict lookup.
"""

from __future__ import annotations

from collections.abc import Iterable

from store.hourly_pacing import HOURS_PER_DAY, paced_limit

SECONDS_PER_DAY = 86400
SECONDS_PER_HOUR = 3600


class DailyLimits:
    __slots__ = ("counts", "day", "hour", "hours", "ip_counts", "live_routers", "over_limit", "shares")

    def __init__(self, day: int) -> None:
        self.day = day
        #: The UTC hour of ``day`` (0..23) whose share of each limit is released (rule 10).
        self.hour = 0
        #: Hours since 1970-01-01 at the last ``advance`` (-1: none yet).
        self.hours = -1
        self.counts: dict[tuple[str, str], int] = {}
        #: Today's picks per dedicated IP over all providers, for IPs with a capacity (rule 9).
        self.ip_counts: dict[str, int] = {}
        #: Live routers, from the heartbeats (at least 1: this one).
        self.live_routers = 1
        #: Picks counted on a pair already at its share (nowhere else to send them).
        self.over_limit = 0
        #: This router's share by hourly_burst, then limit, for ``hour`` and ``live_routers``:
        #: computed once per hour and value (there are a few), then only looked up.
        self.shares: dict[float, dict[int, int]] = {}

    def roll(self, day: int) -> None:
        """Start a new day when ``day`` is not the current one."""
        if day != self.day:
            self.day = day
            self.counts = {}
            self.ip_counts = {}

    def advance(self, hours: int) -> None:
        """Move to the UTC hour ``hours`` (since 1970-01-01), starting a new day if it is one."""
        day = hours // HOURS_PER_DAY
        self.roll(day)
        self.hours = hours
        self.hour = hours - day * HOURS_PER_DAY
        self.shares = {}

    def share(self, limit: int, hourly_burst: float) -> int:
        """This router's part of ``limit`` released by the end of the current hour."""
        shares = self.shares.get(hourly_burst)
        if shares is None:
            shares = self.shares[hourly_burst] = {}
        share = shares.get(limit)
        if share is None:
            share = shares[limit] = paced_limit(limit, self.hour, hourly_burst) // self.live_routers
        return share

    def headroom(self, address: str, provider: str, limit: int, hourly_burst: float) -> bool:
        return self.counts.get((address, provider), 0) < self.share(limit, hourly_burst)

    def room(self, address: str, capacity: int) -> bool:
        """Whether one more pick fits in the IP's daily capacity (rule 9), this router's 1/N."""
        return self.ip_counts.get(address, 0) < capacity // self.live_routers

    def count(
        self, address: str, provider: str, limit: int | None, hourly_burst: float, capacity: int | None = None
    ) -> None:
        """One pick on the pair (when it has a ``limit``) and on the IP (when it has a ``capacity``);
        past either, it counts once in ``over_limit``."""
        over = False
        if limit is not None:
            key = (address, provider)
            n = self.counts.get(key, 0) + 1
            self.counts[key] = n
            over = n > self.share(limit, hourly_burst)
        if capacity is not None:
            m = self.ip_counts.get(address, 0) + 1
            self.ip_counts[address] = m
            over = over or m > capacity // self.live_routers
        if over:
            self.over_limit += 1

    def set_live_routers(self, n: int) -> None:
        n = max(1, n)
        if n != self.live_routers:
            self.live_routers = n
            self.shares = {}

    def seed(self, day: int, rows: Iterable[tuple[str, str, int]]) -> None:
        """Start from what PostgreSQL already counted today, this router's 1/N of it.

        A router that restarts mid-day would otherwise grant every limit afresh. Each IP's
        capacity counter (rule 9) starts from the sum of its pairs.
        """
        self.roll(day)
        by_ip: dict[str, int] = {}
        for address, provider, total in rows:
            key = (address, provider)
            self.counts[key] = max(self.counts.get(key, 0), total // self.live_routers)
            by_ip[address] = by_ip.get(address, 0) + total
        for address, total in by_ip.items():
            self.ip_counts[address] = max(self.ip_counts.get(address, 0), total // self.live_routers)
