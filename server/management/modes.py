"""SetAccountMode: pin an account's mode (SPEC §2 rule 7, v2).

Only the ``mode`` column changes: stages, pools and history stay as they are, so going
back to ``auto`` goes on from where the account was. The rebalancer reads the mode at its
next run (``workers/policy/modes.py`` says what each one does). The change and its audit
event commit together (``account_setting.py``).
"""

from __future__ import annotations

import asyncpg

from sendingip.v1 import types_pb2
from server import validate
from server.management import account_setting, accounts
from server.management.errors import InvalidArgument
from store.accounts import account_mode

#: The audit event's kind: the call's name, as for the other admin calls.
AUDIT_KIND = "SetAccountMode"


async def set_mode(conn: asyncpg.Connection, account_id: str, mode: str, actor: str) -> types_pb2.Account:
    validate.account_id(account_id)
    try:
        wanted = account_mode(mode)
    except ValueError as exc:
        raise InvalidArgument(f"mode: {exc}") from None
    await account_setting.change(
        conn,
        account_id,
        setting="mode",
        value=wanted,
        lock="mgmt_lock_account_mode",
        update="mgmt_set_account_mode",
        kind=AUDIT_KIND,
        actor=actor,
        reason=lambda before: f"mode {before} -> {wanted}",
    )
    return await accounts.get_account(conn, account_id)
