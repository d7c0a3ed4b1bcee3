"""Pause and resume an account's warm-up (SPEC §2 rule 7).

Only the flag changes: stages, pools and history stay as they are, so resuming goes on
from where the pause stopped. The rebalancer reads the flag at its next run. The change
and its audit event commit together (``account_setting.py``); pausing a paused account
changes nothing and records nothing.
"""

from __future__ import annotations

import asyncpg

from sendingip.v1 import types_pb2
from server import validate
from server.management import account_setting, accounts


async def set_paused(conn: asyncpg.Connection, account_id: str, paused: bool, actor: str) -> types_pb2.Account:
    validate.account_id(account_id)
    await account_setting.change(
        conn,
        account_id,
        setting="warmup_paused",
        value=paused,
        lock="mgmt_lock_warmup_paused",
        update="mgmt_set_warmup_paused",
        kind="PauseWarmup" if paused else "ResumeWarmup",
        actor=actor,
        reason=lambda _: "warm-up paused by an operator" if paused else "warm-up resumed by an operator",
    )
    return await accounts.get_account(conn, account_id)
