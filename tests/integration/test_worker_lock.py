"""One active rebalancer; a standby takes over when it dies; runs never overlap."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg

from workers.leader import LEADER, RUN, SessionLock
from workers.service import Worker, WorkerConfig


async def test_only_one_worker_leads_and_a_standby_takes_over(db_url: str) -> None:
    first, second = SessionLock(db_url, LEADER), SessionLock(db_url, LEADER)
    try:
        assert await first.try_acquire()
        assert not await second.try_acquire()
        # The leader's connection dies (as with SIGKILL): PostgreSQL frees the lock.
        assert first._conn is not None
        first._conn.terminate()
        assert not await first.still_held()
        assert await second.acquire(timeout=5)
        assert not await first.try_acquire()
    finally:
        await first.release()
        await second.release()


async def test_an_operator_run_waits_for_the_run_lock_not_for_leadership(pool: asyncpg.Pool, db_url: str) -> None:
    leader = Worker(pool, db_url, WorkerConfig(interval=3600, standby_poll=0.1))
    operator = Worker(pool, db_url, WorkerConfig())
    loop = asyncio.create_task(leader.run())
    try:
        while leader.last_report is None:
            await asyncio.sleep(0.05)
        assert leader.leader.held
        # The active worker sleeps between runs; an operator's run goes through.
        report = await operator.rebalance_once(date(2026, 3, 1), lock_timeout=5)
        assert report is not None and report.day == date(2026, 3, 1)
        # While a run holds the run lock, another run waits (here: gives up).
        blocker = SessionLock(db_url, RUN)
        assert await blocker.try_acquire()
        try:
            assert await operator.rebalance_once(date(2026, 3, 2), lock_timeout=0.3) is None
        finally:
            await blocker.release()
    finally:
        leader.stop()
        await loop
    assert not leader.leader.held
