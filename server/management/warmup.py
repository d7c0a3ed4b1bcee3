"""Pause and resume an account's warm-up (SPEC §2 rule 7).

Only the flag changes: stages, pools and history stay as they are, so resuming goes on
from where the pause stopped. The rebalancer reads the flag at its next run. The change
and its audit event commit together under the account's row lock; pausing a paused
account changes nothing and records nothing.
"""

from __future__ import annotations

import asyncpg

from sendingip.v1 import types_pb2
from server import validate
from server.management import accounts
from server.management.errors import NotFound
from store import audit, queries


async def set_paused(conn: asyncpg.Connection, account_id: str, paused: bool, actor: str) -> types_pb2.Account:
    validate.account_id(account_id)
    q = queries.load()
    async with conn.transaction():
        before = await conn.fetchval(q["mgmt_lock_warmup_paused"], account_id)
        if before is None:
            raise NotFound(f"account {account_id!r} not found")
        if before != paused:
            await conn.execute(q["mgmt_set_warmup_paused"], account_id, paused)
            await audit.record(
                conn,
                actor=actor,
                kind="PauseWarmup" if paused else "ResumeWarmup",
                account_id=account_id,
                before={"warmup_paused": before},
                after={"warmup_paused": paused},
                reason="warm-up paused by an operator" if paused else "warm-up resumed by an operator",
            )
    return await accounts.get_account(conn, account_id)
