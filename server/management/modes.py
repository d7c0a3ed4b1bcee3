"""SetAccountMode: pin an account's mode (SPEC §2 rule 7, v2).

Only the ``mode`` column changes: stages, pools and history stay as they are, so going
back to ``auto`` goes on from where the account was. The rebalancer reads the mode at its
next run (``workers/policy/modes.py`` says what each one does). The change and its audit
event commit together, under the account's row lock, so two operators setting modes at
once leave one after the other in the log; setting the mode it already has changes
nothing and records nothing.
"""

from __future__ import annotations

import asyncpg

from sendingip.v1 import types_pb2
from server import validate
from server.management import accounts
from server.management.errors import InvalidArgument, NotFound
from store import audit, queries
from store.accounts import account_mode

#: The audit event's kind: the call's name, as for the other admin calls.
AUDIT_KIND = "SetAccountMode"


async def set_mode(conn: asyncpg.Connection, account_id: str, mode: str, actor: str) -> types_pb2.Account:
    validate.account_id(account_id)
    try:
        wanted = account_mode(mode)
    except ValueError as exc:
        raise InvalidArgument(f"mode: {exc}") from None
    q = queries.load()
    async with conn.transaction():
        before = await conn.fetchval(q["mgmt_lock_account_mode"], account_id)
        if before is None:
            raise NotFound(f"account {account_id!r} not found")
        if before != wanted:
            await conn.execute(q["mgmt_set_account_mode"], account_id, wanted)
            await audit.record(
                conn,
                actor=actor,
                kind=AUDIT_KIND,
                account_id=account_id,
                before={"mode": before},
                after={"mode": wanted},
                reason=f"mode {before} -> {wanted}",
            )
    return await accounts.get_account(conn, account_id)
