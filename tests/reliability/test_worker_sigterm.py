"""`sendingip worker` on SIGTERM in the middle of a rebalance of many accounts stops after
the accounts it is applying (README: the rebalancer): it exits within seconds, every account
it reached is applied whole, none half, and the others wait for the next run.

Before, the stop was only noticed between runs: the process went on through every remaining
account (tens of seconds here, minutes for 100k accounts) while a container runtime's grace
period ran out and it was killed anyway."""

from __future__ import annotations

import signal
import time
from datetime import UTC, date, datetime

import asyncpg
import pytest

from tests.e2e.harness import ServerProcess, sendingip_env

pytestmark = pytest.mark.e2e

#: Seconds from SIGTERM to exit that the test allows (measured: well under one).
EXIT_WITHIN = 5.0

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


async def _states(conn: asyncpg.Connection, day: date) -> dict[str, str]:
    """``old``/``new`` per account; anything else is a half-applied account, named with its parts."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await conn.fetch(STATE)
    states = {}
    for r in rows:
        parts = (r["management_type"], r["last_decided_on"], r["figures_day"], r["ips"], r["pairs"], r["routes"])
        if parts[:5] == ("general", None, None, 0, 0) and parts[5] in (0, 1):  # with or without a General route
            states[r["account_id"]] = "old"
        elif parts == ("transition", day, str(day), 1, 5, 1):  # a pair per policy provider
            states[r["account_id"]] = "new"
        else:
            states[r["account_id"]] = f"torn {parts}"
    return states


async def _seed(db: asyncpg.Connection, accounts: int, today: date) -> None:
    await db.execute("SET statement_timeout = 0")
    async with db.transaction():
        for statement in SEED.split(";\n"):
            if statement.strip():
                args = [a for a, n in ((accounts, "$1"), (today, "$2")) if n in statement]
                await db.execute(statement, *args)


@pytest.mark.parametrize(
    "accounts", [pytest.param(1500, id="short"), pytest.param(3000, id="3000-accounts", marks=pytest.mark.soak)]
)
async def test_sigterm_mid_rebalance_exits_within_seconds_with_every_account_whole(
    db: asyncpg.Connection, db_url: str, accounts: int
) -> None:
    today = datetime.now(UTC).date()
    await _seed(db, accounts, today)
    worker = ServerProcess(sendingip_env(db_url, SENDINGIP_REBALANCE_INTERVAL="3600"), command=["worker"])
    try:
        worker.wait_line("worker active")
        while await db.fetchval("SELECT count(*) FROM accounts WHERE management_type = 'transition'") < 20:
            assert worker.proc.poll() is None, worker.output
            time.sleep(0.01)
        worker.signal(signal.SIGTERM)
        signalled = time.monotonic()
        code = worker.wait(60)
        took = time.monotonic() - signalled
    finally:
        worker.stop()

    states = await _states(db, today)
    torn = {a: s for a, s in states.items() if s not in ("old", "new")}
    assert not torn, list(torn.items())[:5]
    done = sum(s == "new" for s in states.values())
    assert took < EXIT_WITHIN, f"exited {took:.1f}s after SIGTERM ({done} of {accounts} accounts applied)"
    assert 0 < done < accounts, f"{done} of {accounts} applied: the SIGTERM did not land mid-run"
    assert code == 0, worker.output
    summary = worker.wait_line(r"rebalance day=\S+ accounts=(\d+) applied=(\d+) .*stopped early", timeout=1)
    assert int(summary[2]) == done, summary[0]  # the summary counts what is in the database
    assert "worker stopped" in worker.output
    assert "Traceback" not in worker.output, worker.output
