"""A worker killed in the middle of a rebalance (issue 8, fault 3): every account is in
its old or its new state, never between, and the standby finishes the run."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime

import asyncpg
import pytest

from store.database import connect
from tests.support.processes import ServerProcess, sendingip_env
from tests.support.rebalance_run import account_states, seed_accounts
from workers.leader import LEADER, RUN

pytestmark = pytest.mark.e2e
STANDBY_POLL = 0.5


@pytest.mark.parametrize(
    "accounts", [pytest.param(600, id="short"), pytest.param(3000, id="3000-accounts", marks=pytest.mark.soak)]
)
async def test_a_worker_killed_mid_rebalance_leaves_no_torn_account_and_the_standby_finishes(
    db: asyncpg.Connection, db_url: str, accounts: int
) -> None:
    today = datetime.now(UTC).date()
    await seed_accounts(db, accounts, today)
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

            states = await account_states(db, today)
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
            states = await account_states(db, today)
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
