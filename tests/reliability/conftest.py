"""Fixtures of the reliability tests: PostgreSQL of their own (to stop and start) and
the short/long (``soak``) split."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterator

import asyncpg
import pytest

from tests.e2e.harness import PrivatePostgres
from tests.embedded_pg import own_folder
from tests.reliability.load import PickKey

SOAK = os.environ.get("SENDINGIP_SOAK") == "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="a soak test: run with SENDINGIP_SOAK=1 (make soak)")
    for item in items:
        if "soak" in item.keywords and not SOAK:
            item.add_marker(skip)


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """An embedded PostgreSQL of this test's own: the test may stop and start it."""
    with own_folder() as folder:
        pg = PrivatePostgres(folder / "pg")
        try:
            yield pg
        finally:
            pg.close()


async def history(db: asyncpg.Connection) -> Counter[PickKey]:
    """What the routers counted, per (account, IP, provider), all days together."""
    rows = await db.fetch(
        "SELECT account_id, ip, mailbox_provider, sum(counted)::bigint AS n FROM daily_history "
        "GROUP BY account_id, ip, mailbox_provider HAVING sum(counted) > 0"
    )
    return Counter({(r["account_id"], r["ip"], r["mailbox_provider"]): r["n"] for r in rows})


async def wait_history(db: asyncpg.Connection, expected: Counter[PickKey], timeout: float = 30.0) -> Counter[PickKey]:
    """History once it equals ``expected`` (routers flush every interval, backing off up
    to 30 s after an outage), or as it is at the timeout."""
    deadline = time.monotonic() + timeout
    while (counted := await history(db)) != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return counted
