"""Many accounts for one rebalance to work through, and each account's state read in one
snapshot, for the tests that stop a worker in the middle of a run (SIGTERM, SIGKILL).

Every account has 30 days of imported history over the threshold, so a run moves each
from General into Transition with a dedicated IP, one IP each from the inventory.
"""

from __future__ import annotations

from datetime import date

import asyncpg

SEED = """
INSERT INTO regions (region) VALUES ('us-east');
INSERT INTO pools (pool_id, region, pool_type) VALUES ('general:us-east', 'us-east', 'general');
INSERT INTO ip_addresses (address, region, state, pool_id) VALUES ('192.0.2.1', 'us-east', 'general', 'general:us-east');
INSERT INTO ip_addresses (address, region, state)
    SELECT '10.0.0.0'::inet + i, 'us-east', 'inventory' FROM generate_series(1, $1::int) i;
INSERT INTO accounts (account_id, region)
    SELECT 'acct-' || lpad(i::text, 5, '0'), 'us-east' FROM generate_series(1, $1::int) i;
INSERT INTO daily_history (day, account_id, mailbox_provider, imported)
    SELECT d::date, 'acct-' || lpad(i::text, 5, '0'), p, 20000
    FROM generate_series(1, $1::int) i, generate_series($2::date - 30, $2::date - 1, interval '1 day') d,
         unnest(ARRAY['google', 'microsoft']) p;
"""

#: Per account, everything a rebalance writes for it, read in one snapshot.
STATE = """
SELECT a.account_id, a.management_type, a.last_decided_on, a.figures->>'day' AS figures_day,
       (SELECT count(*) FROM ip_addresses i
         WHERE i.pool_id = 'dedicated:' || a.account_id AND i.state = 'dedicated') AS ips,
       (SELECT count(*) FROM warmup_state w WHERE w.account_id = a.account_id) AS pairs,
       (SELECT count(*) FROM routing_entries r WHERE r.kind = 'account' AND r.key = a.account_id) AS routes
FROM accounts a
"""


async def seed_accounts(db: asyncpg.Connection, accounts: int, today: date) -> None:
    """``accounts`` accounts (``acct-00001``, ...) with history up to ``today``, and as many
    inventory IPs; the statement timeout lifted for the session, as a large seed needs."""
    await db.execute("SET statement_timeout = 0")
    async with db.transaction():
        for statement in SEED.split(";\n"):
            if statement.strip():
                args = [a for a, n in ((accounts, "$1"), (today, "$2")) if n in statement]
                await db.execute(statement, *args)


async def account_states(conn: asyncpg.Connection, day: date) -> dict[str, str]:
    """``old``/``new`` per account; anything else is a torn (half-applied) account, named
    with its parts."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await conn.fetch(STATE)
    states = {}
    for r in rows:
        parts = (r["management_type"], r["last_decided_on"], r["figures_day"], r["ips"], r["pairs"], r["routes"])
        # A run first gives every account without a routing entry a General one (SPEC §3 v2),
        # apart from the accounts' own transactions: an old account has it or not yet.
        if parts[:5] == ("general", None, None, 0, 0) and parts[5] in (0, 1):
            states[r["account_id"]] = "old"
        elif parts == ("transition", day, str(day), 1, 5, 1):  # a pair per policy provider
            states[r["account_id"]] = "new"
        else:
            states[r["account_id"]] = f"torn {parts}"
    return states
