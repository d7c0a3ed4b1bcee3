"""Pause and resume an account's warm-up (SPEC §2 rule 7).

Only the flag changes: stages, pools and history stay as they are, so resuming goes on
from where the pause stopped. The rebalancer reads the flag at its next run.
"""

from __future__ import annotations

import asyncpg

from sendingip.v1 import types_pb2
from server import validate
from server.management import accounts
from server.management.errors import NotFound
from store import queries


async def set_paused(conn: asyncpg.Connection, account_id: str, paused: bool) -> types_pb2.Account:
    validate.account_id(account_id)
    if await conn.fetchval(queries.load()["mgmt_set_warmup_paused"], account_id, paused) is None:
        raise NotFound(f"account {account_id!r} not found")
    return await accounts.get_account(conn, account_id)
