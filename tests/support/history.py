"""What the routers counted in ``daily_history``, per (account, IP, provider), for tests
that hold the history to the picks they were answered."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import asyncpg

#: (account, IP, mailbox provider)
PickKey = tuple[str, str, str]


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
