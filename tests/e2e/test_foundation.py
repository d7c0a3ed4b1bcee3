"""The foundation as a user meets it: `sendingip migrate` and `sendingip serve`."""

from __future__ import annotations

import signal
import subprocess

from grpc_health.v1 import health_pb2

from tests.support.databases import DatabaseFactory
from tests.support.processes import SENDINGIP, ServerProcess, health_status, sendingip_env


async def test_two_migrate_commands_started_at_once_both_succeed(databases: DatabaseFactory) -> None:
    url = await databases.create(migrated=False)
    env = sendingip_env(url)
    procs = [
        subprocess.Popen([SENDINGIP, "migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sorted("applied 0001_initial" in out for out in outputs) == [False, True], outputs
    assert any("schema is up to date" in out for out in outputs), outputs


async def test_serve_answers_health_and_stops_cleanly_on_ctrl_c(databases: DatabaseFactory) -> None:
    url = await databases.create(migrated=False)
    server = ServerProcess(sendingip_env(url))
    try:
        target = server.target
        # Serving or not depends on a routing table; the process must answer either way.
        assert health_status(target) in (
            health_pb2.HealthCheckResponse.SERVING,
            health_pb2.HealthCheckResponse.NOT_SERVING,
        )
        server.signal(signal.SIGINT)
        assert server.wait(timeout=20) == 0, server.output
        assert "Traceback" not in server.output, server.output
    finally:
        server.stop()
