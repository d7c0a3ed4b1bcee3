"""`sendingip worker` on SIGTERM in the middle of a rebalance of many accounts stops after
the accounts it is applying (docs/operations.md): it exits within seconds, every account
it reached is applied whole, none half, and the others wait for the next run.

Before, the stop was only noticed between runs: the process went on through every remaining
account (tens of seconds here, minutes for 100k accounts) while a container runtime's grace
period ran out and it was killed anyway."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime

import asyncpg
import pytest

from tests.support.processes import ServerProcess, sendingip_env
from tests.support.rebalance_run import account_states, seed_accounts

pytestmark = pytest.mark.e2e

#: Seconds from SIGTERM to exit that the test allows (measured: well under one).
EXIT_WITHIN = 5.0


@pytest.mark.parametrize(
    "accounts", [pytest.param(1500, id="short"), pytest.param(3000, id="3000-accounts", marks=pytest.mark.soak)]
)
async def test_sigterm_mid_rebalance_exits_within_seconds_with_every_account_whole(
    db: asyncpg.Connection, db_url: str, accounts: int
) -> None:
    today = datetime.now(UTC).date()
    await seed_accounts(db, accounts, today)
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

    states = await account_states(db, today)
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
