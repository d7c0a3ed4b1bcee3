"""One setting of an account changed by an operator (PauseWarmup/ResumeWarmup, SetAccountMode).

The account's row is locked, the setting read, and only when it differs is it written with
its audit event (before and after), in one transaction: two operators changing it at once
leave one change after the other in the log, and setting what is already there changes
nothing and records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from server.management.errors import NotFound
from store import audit, queries


async def change(
    conn: asyncpg.Connection,
    account_id: str,
    *,
    setting: str,
    value: Any,
    lock: str,
    update: str,
    kind: str,
    actor: str,
    reason: Callable[[Any], str],
) -> None:
    """Set ``setting`` to ``value`` (queries ``lock`` and ``update``); ``reason(before)`` is the event's text."""
    q = queries.load()
    async with conn.transaction():
        before = await conn.fetchval(q[lock], account_id)
        if before is None:
            raise NotFound(f"account {account_id!r} not found")
        if before == value:
            return
        await conn.execute(q[update], account_id, value)
        await audit.record(
            conn,
            actor=actor,
            kind=kind,
            account_id=account_id,
            before={setting: before},
            after={setting: value},
            reason=reason(before),
        )
