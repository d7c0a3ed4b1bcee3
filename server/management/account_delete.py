"""DeleteAccount (SPEC §3 v2): the account goes, its IPs to quarantine, its history stays.

One transaction: its dedicated IPs (assigned or draining) leave the pool at once and wait
in quarantine for ``drain_days + quarantine_days`` (the drain and the quarantine a
recovered IP would have had: nobody else gets them meanwhile, so mail already routed
through them goes out from them), its warm-up pairs go, and its routing entry becomes a
General one, so its picks go to its region's general pool from the next routing version on.

The account row stays as a tombstone (``deleted_at``): ListAccounts, GetAccount and the
rebalancer skip it, and neither a router's history flush nor the rebalancer re-creates it
from its history (both only insert accounts that have no row). Its history ages out with
the window like any other. A pick that still names it is answered from the general pool
and counted, as for any account, without bringing it back; CreateAccount in its region
brings it back as a General account, explicitly (``accounts.create_account``). Deleting a
deleted account changes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg

from server import validate
from server.management.errors import NotFound
from store import audit, queries, routing_store
from store.routing_entry import AccountRoute

AUDIT_KIND = "DeleteAccount"


async def delete_account(conn: asyncpg.Connection, actor: str, account_id: str, today: date) -> int:
    """Delete ``account_id``; returns how many of its IPs went to quarantine."""
    validate.account_id(account_id)
    q = queries.load()
    async with conn.transaction():
        account = await conn.fetchrow(q["inv_lock_account"], account_id)
        if account is None:
            if await conn.fetchval(q["inv_account_deleted"], account_id) is not None:
                return 0  # deleted already: a retried call
            raise NotFound(f"account {account_id!r} not found")
        days = await conn.fetchrow(q["inv_quarantine_days"])
        until = today + timedelta(days=days["drain_days"] + days["quarantine_days"])
        released = []
        if account["pool_id"] is not None:
            released = [
                r["address"] for r in await conn.fetch(q["inv_quarantine_account_ips"], account["pool_id"], until)
            ]
        await conn.execute(q["inv_delete_account_pairs"], account_id)
        await conn.execute(q["inv_tombstone_account"], account_id)
        await routing_store.publish(conn, [AccountRoute(account_id, account["region"], "general", today, None)])
        await audit.record(
            conn,
            actor=actor,
            kind=AUDIT_KIND,
            account_id=account_id,
            addresses=released,
            before={"management_type": account["management_type"], "pool_id": account["pool_id"]},
            after={"deleted": True, "quarantine_until": until.isoformat()},
            reason=f"account deleted; {len(released)} IPs in quarantine until {until}",
        )
    return len(released)
