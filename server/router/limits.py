"""Today's picks per (IP, mailbox provider), against each pair's daily limit (SPEC rule 8).

With N live routers each enforces ``limit // N`` of every limit, so together they never
exceed it. Only pairs that have a limit are counted here (history counts everything).
The day is the UTC day number (days since 1970-01-01); counters start over when it
changes.
"""

from __future__ import annotations

from collections.abc import Iterable

SECONDS_PER_DAY = 86400


class DailyLimits:
    __slots__ = ("counts", "day", "live_routers", "over_limit")

    def __init__(self, day: int) -> None:
        self.day = day
        self.counts: dict[tuple[str, str], int] = {}
        #: Live routers, from the heartbeats (at least 1: this one).
        self.live_routers = 1
        #: Picks counted on a pair already at its share (nowhere else to send them).
        self.over_limit = 0

    def roll(self, day: int) -> None:
        """Start a new day when ``day`` is not the current one."""
        if day != self.day:
            self.day = day
            self.counts = {}

    def headroom(self, address: str, provider: str, limit: int) -> bool:
        return self.counts.get((address, provider), 0) < limit // self.live_routers

    def count(self, address: str, provider: str, limit: int) -> None:
        key = (address, provider)
        n = self.counts.get(key, 0) + 1
        self.counts[key] = n
        if n > limit // self.live_routers:
            self.over_limit += 1

    def set_live_routers(self, n: int) -> None:
        self.live_routers = max(1, n)

    def seed(self, day: int, rows: Iterable[tuple[str, str, int]]) -> None:
        """Start from what PostgreSQL already counted today, this router's 1/N of it.

        A router that restarts mid-day would otherwise grant every limit afresh.
        """
        self.roll(day)
        for address, provider, total in rows:
            key = (address, provider)
            self.counts[key] = max(self.counts.get(key, 0), total // self.live_routers)
