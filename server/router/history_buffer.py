"""History, the hot path's side: picks counted in memory until the flusher takes them.

A pick adds one to ``pending`` per (day, account, IP, provider) — a dict lookup, nothing
more, whether PostgreSQL answers or not. About once a second the flusher
(``history_flusher.py``) takes everything pending as one ``Flush`` with a fresh id and
writes it to PostgreSQL exactly once.

Memory is bounded by ``max_keys`` distinct keys (pending plus in flight or parked): at
the bound, keys already held keep counting, picks for other keys are dropped from
history and counted in ``dropped`` (the router keeps answering either way).
"""

from __future__ import annotations

import logging
import operator
import time
import uuid
from dataclasses import dataclass
from datetime import date

log = logging.getLogger(__name__)

#: (UTC day number, account_id, ip, mailbox_provider)
Key = tuple[int, str, str, str]
_EPOCH = date(1970, 1, 1).toordinal()


def day_of(day_number: int) -> date:
    return date.fromordinal(_EPOCH + day_number)


_KEY = operator.itemgetter(0)


def sorted_rows(counts: dict[Key, int]) -> list[tuple[Key, int]]:
    """``counts`` as rows in key order, the one order every flush locks rows in. Keys are
    distinct, so comparing keys alone gives the order of comparing (key, n) rows, at half
    the cost."""
    return sorted(counts.items(), key=_KEY)


@dataclass(frozen=True)
class Flush:
    flush_id: uuid.UUID
    #: Sorted by key (concurrent flushes lock rows in one order); a part of a flush kept
    #: on disk (``spill``) need not be.
    rows: list[tuple[Key, int]]
    #: Accounts the router has no routing entry for, with the region to create them in.
    new_accounts: list[tuple[str, str]]
    picks: int
    #: ``time.monotonic()`` of the oldest pick in it.
    oldest: float


class HistoryBuffer:
    """The hot path's side: ``add`` one pick. Single-threaded (the event loop)."""

    __slots__ = (
        "_created",
        "_last_full_log",
        "dropped",
        "in_flight",
        "max_keys",
        "new_accounts",
        "oldest",
        "pending",
    )

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self.pending: dict[Key, int] = {}
        self.new_accounts: dict[str, str] = {}
        self._created: set[str] = set()
        #: The keys of the flush being written (until it lands), for the bound.
        self.in_flight: dict[Key, int] = {}
        self.oldest = 0.0
        self.dropped = 0
        self._last_full_log = -1e9

    def add(self, key: Key) -> None:
        pending = self.pending
        n = pending.get(key)
        if n is not None:
            pending[key] = n + 1
            return
        if len(pending) + len(self.in_flight) >= self.max_keys and key not in self.in_flight:
            self._drop(key)
            return
        if not pending:
            self.oldest = time.monotonic()
        pending[key] = 1

    def unknown_account(self, account_id: str, region: str) -> None:
        """Create ``account_id`` in ``region`` with the next flush (no routing entry yet)."""
        if account_id not in self._created and account_id not in self.new_accounts:
            self.new_accounts[account_id] = region

    def take(self) -> Flush | None:
        if not self.pending and not self.new_accounts:
            return None
        pending, accounts, oldest = self.swap()
        self.in_flight = pending
        return Flush(
            flush_id=uuid.uuid4(),
            rows=sorted_rows(pending),
            new_accounts=sorted(accounts.items()),
            picks=sum(pending.values()),
            oldest=oldest if pending else time.monotonic(),
        )

    def swap(self) -> tuple[dict[Key, int], dict[str, str], float]:
        """Everything pending, taken out: (picks per key, new accounts, when the oldest
        pick was made). The buffer starts afresh."""
        pending, self.pending = self.pending, {}
        accounts, self.new_accounts = self.new_accounts, {}
        if len(self._created) > 100_000:
            self._created.clear()  # a bound; re-creating is harmless (ON CONFLICT DO NOTHING)
        self._created.update(accounts)
        return pending, accounts, self.oldest

    @property
    def pending_picks(self) -> int:
        return sum(self.pending.values())

    def _drop(self, key: Key) -> None:
        self.dropped += 1
        now = time.monotonic()
        if now - self._last_full_log >= 10:
            self._last_full_log = now
            log.error(
                "history backlog full keys=%d max_keys=%d dropped_picks=%d account=%s ip=%s: "
                "picks for new keys are not recorded until PostgreSQL takes the backlog",
                len(self.pending) + len(self.in_flight),
                self.max_keys,
                self.dropped,
                key[1],
                key[2],
            )
