"""PostgreSQL going away in the middle of a rebalance ends the run with one error (which the
worker logs as an outage, store/outage.py), instead of failing every remaining account with a
traceback each: thousands of tracebacks in a second for a big run."""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Any

import pytest

from workers.rebalance.run import RebalanceReport, _apply_all


class DownPool:
    """A pool whose PostgreSQL is gone: every acquire fails as asyncpg's does."""

    def __init__(self) -> None:
        self.attempts = 0

    def acquire(self) -> Any:
        self.attempts += 1
        raise ConnectionRefusedError(111, "Connection refused")


async def test_an_unreachable_database_ends_the_run_instead_of_failing_each_account(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    pool = DownPool()
    report = RebalanceReport(day=date(2026, 3, 1))
    work = [(f"acct-{i}", ()) for i in range(1000)]
    with pytest.raises(ConnectionRefusedError):
        await _apply_all(pool, None, work, report.day, report, concurrency=4, stop=asyncio.Event())  # type: ignore[arg-type]
    assert pool.attempts <= 4  # at most one account per connection slot tried it
    assert report.failed == 0 and report.applied == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
