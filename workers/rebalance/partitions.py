"""The history tables' day partitions (migration 0009): created ahead, dropped past retention.

``daily_history`` and ``daily_outcomes`` are partitioned by day with a DEFAULT partition,
so an insert never fails for want of a partition; the partitions are what makes retention
a ``DROP TABLE`` instead of a ``DELETE`` of millions of rows, and keeps the window read to
the window's days. Each run creates the partitions of its window and of the days ahead
(``AHEAD_DAYS``: the routers and imports write today and tomorrow; a week covers a
rebalancer that did not run for days) and drops those wholly older than the retention.

Both are upkeep, never a reason to fail a run: each step waits at most
``worker_partition_lock_timeout`` for its locks, and a step that cannot get them is logged
and left to the next run (rows meanwhile land in, or stay in, the DEFAULT partition, which
every read also scans).
"""

from __future__ import annotations

import logging
from datetime import date

import asyncpg

from store import queries

log = logging.getLogger(__name__)

#: Partitions created past the run's day.
AHEAD_DAYS = 7
TABLES = ("daily_history", "daily_outcomes")


async def ensure_partitions(pool: asyncpg.Pool, first: date, last: date) -> int:
    """The day partitions from ``first`` through ``last`` of both tables exist afterwards
    (unless a lock could not be had); returns how many this call created. Idempotent."""
    q = queries.load()
    created = 0
    async with pool.acquire() as conn:
        missing = await conn.fetch(q["worker_missing_partitions"], first, last)
        for row in missing:  # one short transaction each: locks are held per day, not per run
            try:
                async with conn.transaction():
                    await conn.execute(q["worker_partition_lock_timeout"])
                    if await conn.fetchval(q["worker_ensure_partition"], row["parent"], row["day"]):
                        created += 1
            except asyncpg.PostgresError as exc:
                log.warning(
                    "history partition %s day=%s not created (rows go to the DEFAULT partition): %s",
                    row["parent"],
                    row["day"],
                    exc,
                )
    return created


async def drop_before(pool: asyncpg.Pool, keep_from: date) -> int:
    """Retention: both tables' partitions wholly before ``keep_from`` dropped, and their
    DEFAULT partitions' rows before it deleted; returns how many partitions went."""
    q = queries.load()
    dropped = 0
    async with pool.acquire() as conn:
        for table in TABLES:
            try:
                async with conn.transaction():
                    await conn.execute(q["worker_partition_lock_timeout"])
                    dropped += await conn.fetchval(q["worker_drop_partitions"], table, keep_from)
            except asyncpg.PostgresError as exc:
                log.warning("history retention of %s before %s left for the next run: %s", table, keep_from, exc)
    return dropped
