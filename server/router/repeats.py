"""The picks this router counted in the last ten minutes, so that a repeat is not counted again.

SPEC §3 (v2): the same (account_id, message_id) asked again within 10 minutes without
``retry`` gets the same answer and is not counted again by that router. An MTA asks again
when its first answer was lost (a timeout, a dropped connection, a restarted queue runner):
that message leaves once, so it must weigh once in the warm-up limits and the history.

A pick is keyed by the 128-bit BLAKE2b digest ``draw`` already computed for it, with the
mailbox provider folded in: a message with recipients at two providers is two deliveries,
each with its own answer, and each is counted once. The key maps to the answer given;
answers are interned (the same few repeat: one per IP, pool, provider and routing
version), so a remembered pick costs its key, its dict slot and a slot in the FIFO that
forgets it: about 95 bytes (measured with tracemalloc over 500k picks).

The keys are spread over ``SHARDS`` dicts by their low bits. One dict of a million keys
under steady churn rebuilds itself every 1.8M insertions, holding the event loop for
~75 ms each time (measured here); a shard's rebuild is 1/256 of that.

Forgetting costs nothing on any one pick: keys are grouped into buckets of
``BUCKET_SECONDS`` in the order they were counted, and once a bucket is older than the
window (checked when a bucket closes) its keys are dropped a few at a time, by each later
pick (twice as fast as picks add keys, so the backlog shrinks under any load). A key is
therefore remembered for at least ``WINDOW_SECONDS`` and forgotten soon after
``WINDOW_SECONDS + 2 * BUCKET_SECONDS`` (while a busy router drains a bucket's keys, one
of them asked again is still a repeat: it is never counted twice). After a whole window
without a counted pick, everything is forgotten at once (the one pause, on an idle router).

Memory is bounded by ``max_picks``: at the bound the oldest key is forgotten early for
each new one (counted in ``forgotten_early``), so the window shortens to
``max_picks / picks per second`` instead of memory growing. The default, 1,000,000 picks
(about 95 MB), covers ten minutes at 1,666 counted picks a second.

Cost, measured in process on the 2-core development machine (process time, best of runs):
a new pick 1.4 µs more than without it (6.4-7.1 → 8.1-8.3 µs, the bench's 200k picks over
100k accounts), 2.8-3.2 µs more once the window is full and forgets as fast as it learns
(610k picks remembered: cache misses on two dicts that size); a repeat is answered in
about 2 µs, without a pick.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

#: SPEC §3: a repeat within this many seconds is not counted again.
WINDOW_SECONDS = 600.0
#: Keys are forgotten by the bucket: a key lives between the window and the window plus twice this.
BUCKET_SECONDS = 10.0
#: Default bound on remembered picks (``SENDINGIP_REPEAT_WINDOW_PICKS``).
MAX_PICKS = 1_000_000
#: Keys dropped per pick while a bucket is out of date (picks add one key each).
_DROP_PER_PICK = 2
#: Distinct answers kept for interning before the cache starts again.
_INTERNED = 4096
#: Dicts the keys are spread over (a power of two: ``key & (SHARDS - 1)`` picks one).
SHARDS = 256
_SHARD = SHARDS - 1

A = TypeVar("A")


class RecentPicks(Generic[A]):
    """Answers of the picks counted in the last ``window`` seconds, by key. Single-threaded."""

    __slots__ = (
        "_bucket_seconds",
        "_closed",
        "_interned",
        "_open_until",
        "_order",
        "_shards",
        "_stale",
        "forgotten_early",
        "max_picks",
        "window",
    )

    def __init__(
        self, max_picks: int = MAX_PICKS, window: float = WINDOW_SECONDS, bucket_seconds: float = BUCKET_SECONDS
    ) -> None:
        if max_picks < 0:
            raise ValueError(f"max_picks must be >= 0, got {max_picks}")
        self.max_picks = max_picks
        self.window = window
        self._bucket_seconds = bucket_seconds
        self._shards: list[dict[int, A]] = [{} for _ in range(SHARDS)]
        self._interned: dict[A, A] = {}
        #: Keys in the order they were remembered (each key once: a key is added only when
        #: absent). The keys after the stale ones and the closed buckets' are the open bucket's.
        self._order: deque[int] = deque()
        #: [time the bucket closed, keys of it still remembered], oldest first.
        self._closed: deque[list[float]] = deque()
        self._open_until = float("-inf")
        #: Keys at the front of ``_order`` whose bucket has left the window: drop them.
        self._stale = 0
        #: Keys dropped before their time because ``max_picks`` was reached.
        self.forgotten_early = 0

    def __len__(self) -> int:
        return len(self._order)

    def seen(self, key: int, now: float) -> A | None:
        """The answer given to ``key`` within the window, if any. Call once per pick, first."""
        if now >= self._open_until:
            self._roll(now)
        if self._stale:
            self._drop_stale()
        return self._shards[key & _SHARD].get(key)

    def remember(self, key: int, answer: A) -> A:
        """Remember ``answer`` for ``key`` (after ``seen`` said it was new); returns it interned."""
        interned = self._interned.get(answer)
        if interned is None:
            if len(self._interned) >= _INTERNED:
                self._interned.clear()
            interned = self._interned[answer] = answer
        order = self._order
        if len(order) >= self.max_picks:
            if not self.max_picks:
                return interned
            self._forget_oldest()
        self._shards[key & _SHARD][key] = interned
        order.append(key)
        return interned

    def _roll(self, now: float) -> None:
        """Close the open bucket; buckets that left the window become stale."""
        closed = self._closed
        opened = len(self._order) - self._stale - int(sum(c[1] for c in closed))
        if opened:
            closed.append([self._open_until, opened])
        size = self._bucket_seconds
        self._open_until = (now // size + 1) * size
        while closed and closed[0][0] + self.window <= now:
            self._stale += int(closed.popleft()[1])
        if self._stale and self._stale == len(self._order):
            # No pick counted for a whole window (an idle router, a clock that jumped):
            # all at once, so that none of them is mistaken for a repeat meanwhile.
            self._shards = [{} for _ in range(SHARDS)]
            self._order = deque()
            self._stale = 0

    def _drop_stale(self) -> None:
        shards, order = self._shards, self._order
        n = min(self._stale, _DROP_PER_PICK)
        for _ in range(n):
            key = order.popleft()
            del shards[key & _SHARD][key]
        self._stale -= n

    def _forget_oldest(self) -> None:
        key = self._order.popleft()
        del self._shards[key & _SHARD][key]
        self.forgotten_early += 1
        if self._stale:
            self._stale -= 1
        elif self._closed:
            oldest = self._closed[0]
            oldest[1] -= 1
            if not oldest[1]:
                self._closed.popleft()
