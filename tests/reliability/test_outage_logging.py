"""PostgreSQL away for a few seconds under a router (workers included) and a standby
`sendingip worker`, every retry loop running fast (the history flusher too: picks made
during the outage keep it retrying): each loop logs one line with the cause
when the outage starts and one when PostgreSQL answers again — not a line (or a traceback)
per retry, which buried everything else in the log. (The summary line every minute of a
long outage is tested in tests/unit/test_outage_log.py.)"""

from __future__ import annotations

import re
import stat
import time
from collections import Counter
from pathlib import Path

import grpc
import pytest

from sendingip.v1 import management_pb2, management_pb2_grpc, router_pb2_grpc
from store.database import connect
from store.migrate import apply_migrations
from tests.support.processes import PrivatePostgres, ServerProcess, admin_key, sendingip_env
from tests.support.requests import bearer, pick_request
from tests.support.routing import seed_acme

pytestmark = pytest.mark.e2e
OUTAGE_SECONDS = 5.0
#: Every loop that retries while PostgreSQL is away, as its lines name it.
SERVER_LOOPS = {
    "listen channel=sendingip_routing",
    "listen channel=sendingip_keys",
    "routing table sync",
    "api keys reload",
    "history flush",
    "worker",
}


def _loops(lines: list[str], event: str) -> Counter[str]:
    """How many lines each loop logged for ``event`` (``unreachable (`` or ``answers again``),
    by the loop's name; every heartbeat as ``heartbeat``."""
    found: Counter[str] = Counter()
    for line in lines:
        parts = line.split(" ", 4)  # date, time, level, logger, message
        if len(parts) == 5 and f": PostgreSQL {event}" in parts[4]:
            loop = parts[4].split(": PostgreSQL", 1)[0]
            found["heartbeat" if loop.startswith("heartbeat router_id=") else loop] += 1
    return found


async def test_an_outage_is_one_line_per_loop_when_it_starts_and_one_when_it_ends(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    async with connect(private_pg.url) as db:
        await apply_migrations(db)
        await seed_acme(db)
    fast = {
        "SENDINGIP_ROUTING_POLL_INTERVAL": "0.2",
        "SENDINGIP_HEARTBEAT_INTERVAL": "0.2",
        "SENDINGIP_KEY_REFRESH_SECONDS": "0.2",
        "SENDINGIP_STANDBY_POLL": "0.2",
        "SENDINGIP_REBALANCE_INTERVAL": "0.2",
        "SENDINGIP_HISTORY_FLUSH_INTERVAL": "0.2",
    }
    env = sendingip_env(private_pg.url, SENDINGIP_DATA_DIR=str(tmp_path), SENDINGIP_METRICS_LISTEN="0", **fast)
    server = ServerProcess(env)
    worker = ServerProcess(env, command=["worker"])
    try:
        key = admin_key(server)
        # The first-start key is also in SENDINGIP_DATA_DIR/admin-key, readable by its owner only.
        key_file = tmp_path / "admin-key"
        assert key_file.read_text() == key + "\n"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert f"also written to {key_file}" in server.output

        server.wait_serving(30)
        worker.wait_line("worker (standby|active)")
        with grpc.insecure_channel(server.target) as channel:  # opens the Management API's pool
            management_pb2_grpc.ManagementStub(channel).ListAccounts(  # type: ignore[no-untyped-call]
                management_pb2.ListAccountsRequest(), timeout=10, metadata=bearer(key)
            )
        time.sleep(0.5)
        before = (len(server.lines), len(worker.lines))

        private_pg.stop("immediate")
        with grpc.insecure_channel(server.target) as channel:  # picks the flusher cannot write
            router = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
            for n in range(10):
                router.SelectSendingIP(pick_request(f"<{n}@outage>"), timeout=5, metadata=bearer(key))
        time.sleep(OUTAGE_SECONDS)
        during = (server.lines[before[0] :], worker.lines[before[1] :])
        server_during, worker_during = during
        started = _loops(server_during, "unreachable (")
        # Each loop that noticed the outage said so once, with the cause; nothing per retry.
        assert started and max(started.values()) == 1, server_during
        assert set(started) <= SERVER_LOOPS | {"heartbeat"}, started
        assert {"routing table sync", "api keys reload", "heartbeat", "history flush"} <= set(started), server_during
        assert len(server_during) <= 10, "\n".join(server_during)
        assert len(worker_during) <= 3, "\n".join(worker_during)
        assert _loops(worker_during, "unreachable (") == Counter({"worker": 1}), worker_during
        private_pg.start()
        for loop in sorted(SERVER_LOOPS - {"worker"}):
            server.wait_line(rf"{re.escape(loop)}: PostgreSQL answers again", timeout=30, after=before[0])
        server.wait_line(r"heartbeat router_id=\S+: PostgreSQL answers again", timeout=30, after=before[0])
        worker.wait_line("worker: PostgreSQL answers again", timeout=30, after=before[1])
        after = (server.lines[before[0] :], worker.lines[before[1] :])
    finally:
        server.stop()
        worker.stop()

    ended = _loops(after[0], "answers again")
    assert set(started) <= set(ended), (started, ended)
    assert "Traceback" not in server.output + worker.output, server.output + worker.output
