"""A worker killed in the middle of a rebalance (issue 8, fault 3): every account is in
its old or its new state, never between, and the standby finishes the run."""

from __future__ import annotations

import signal
import time
from datetime import UTC, date, datetime

import asyncpg
import pytest

from store.database import connect
from tests.e2e.harness import ServerProcess, sendingip_env
from workers.leader import LEADER, RUN

pytestmark = pytest.mark.e2e
STANDBY_POLL = 0.5

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


async def _states(conn: asyncpg.Connection, day: str) -> dict[str, str]:
    """``old``/``new`` per account; anything else is a torn account, named with its parts."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await conn.fetch(STATE)
    states = {}
    for r in rows:
        parts = (r["management_type"], r["last_decided_on"], r["figures_day"], r["ips"], r["pairs"], r["routes"])
        # A run first gives every account without a routing entry a General one (SPEC §3 v2),
        # apart from the accounts' own transactions: an old account has it or not yet.
        if parts[:5] == ("general", None, None, 0, 0) and parts[5] in (0, 1):
            states[r["account_id"]] = "old"
        elif parts == ("transition", date.fromisoformat(day), day, 1, 5, 1):  # a pair per policy provider
            states[r["account_id"]] = "new"
        else:
            states[r["account_id"]] = f"torn {parts}"
    return states


@pytest.mark.parametrize(
    "accounts", [pytest.param(600, id="short"), pytest.param(3000, id="3000-accounts", marks=pytest.mark.soak)]
)
async def test_a_worker_killed_mid_rebalance_leaves_no_torn_account_and_the_standby_finishes(
    db: asyncpg.Connection, db_url: str, accounts: int
) -> None:
    today = datetime.now(UTC).date()
    await db.execute("SET statement_timeout = 0")
    async with db.transaction():
        for statement in SEED.split(";\n"):
            if statement.strip():
                args = [a for a, n in ((accounts, "$1"), (today, "$2")) if n in statement]
                await db.execute(statement, *args)
    env = sendingip_env(db_url, SENDINGIP_REBALANCE_INTERVAL="3600", SENDINGIP_STANDBY_POLL=str(STANDBY_POLL))

    # The test holds both locks while the workers start, so that the one that becomes
    # active is known (its log says so) and the other is surely a standby already.
    async with connect(db_url) as holder:
        await holder.fetchval("SELECT pg_advisory_lock(hashtext($1))", LEADER)
        await holder.fetchval("SELECT pg_advisory_lock(hashtext($1))", RUN)
        workers = [ServerProcess(env, command=["worker"]) for _ in range(2)]
        try:
            for w in workers:
                w.wait_line("worker standby")
            await holder.fetchval("SELECT pg_advisory_unlock(hashtext($1))", LEADER)
            deadline = time.monotonic() + 30
            while not any("worker active" in w.output for w in workers):
                assert time.monotonic() < deadline, [w.output for w in workers]
                time.sleep(0.02)
            active, standby = sorted(workers, key=lambda w: "worker active" not in w.output)
            await holder.fetchval("SELECT pg_advisory_unlock(hashtext($1))", RUN)

            # Kill the active worker once its first accounts have changed.
            while await db.fetchval("SELECT count(*) FROM accounts WHERE management_type = 'transition'") < 20:
                assert active.proc.poll() is None, active.output
            active.signal(signal.SIGKILL)
            killed_at = time.monotonic()
            active.wait(30)

            states = await _states(db, str(today))
            torn = {a: s for a, s in states.items() if s not in ("old", "new")}
            assert not torn, list(torn.items())[:5]
            done_at_kill = sum(s == "new" for s in states.values())
            assert 0 < done_at_kill < accounts, "the kill did not land mid-run; seed more accounts"

            # The standby takes over as soon as PostgreSQL sees the dead leader's connection
            # end (at once for a killed process; its next poll) and completes the run.
            standby.wait_line("worker active", timeout=10)
            took_over = time.monotonic() - killed_at
            summary = standby.wait_line(r"rebalance day=\S+ accounts=(\d+) applied=(\d+) .*failed=(\d+)", timeout=120)
            assert summary[1] == str(accounts) and summary[3] == "0", summary[0]
            assert took_over < STANDBY_POLL + 5, took_over
            states = await _states(db, str(today))
            assert set(states.values()) == {"new"}, sorted(set(states.values()))[:5]
            # No IP in two accounts' pools, none lost from inventory bookkeeping.
            assert (
                await db.fetchval("SELECT count(DISTINCT pool_id) FROM ip_addresses WHERE state = 'dedicated'")
                == accounts
            )
        finally:
            for w in workers:
                w.stop()
    assert all("Traceback" not in w.output for w in workers), [w.output for w in workers]
