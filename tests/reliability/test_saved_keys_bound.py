"""A router that starts while PostgreSQL is down serves the API keys it saved on disk, within
a bound (SENDINGIP_SAVED_KEYS_MAX_AGE_HOURS): older saved keys are not served at all, and
recent ones (under which a key revoked after they were saved is still accepted, as docs/operations.md
says) are replaced by the live set as soon as PostgreSQL answers."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import grpc
import pytest

from sendingip.v1 import router_pb2_grpc
from store.database import connect
from store.migrate import apply_migrations
from tests.support.processes import SENDINGIP, PrivatePostgres, ServerProcess, create_key, sendingip_env, wait_for
from tests.support.requests import bearer, pick_request
from tests.support.routing import seed_acme

pytestmark = pytest.mark.e2e
REQUEST = pick_request("<1@mta>")


def _pick(target: str, key: str) -> grpc.StatusCode:
    with grpc.insecure_channel(target) as channel:
        try:
            router_pb2_grpc.RouterStub(channel).SelectSendingIP(REQUEST, timeout=5, metadata=bearer(key))  # type: ignore[no-untyped-call]
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def _serve(env: dict[str, str]) -> ServerProcess:
    server = ServerProcess(env, ["--no-workers"])
    server.wait_serving(30)
    return server


async def test_saved_keys_are_served_only_within_the_bound_and_replaced_once_postgres_answers(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    async with connect(private_pg.url) as db:
        await apply_migrations(db)
        await seed_acme(db)
    mta = create_key(private_pg.url, "route")
    revoked = create_key(private_pg.url, "route")
    env = sendingip_env(private_pg.url, SENDINGIP_DATA_DIR=str(tmp_path), SENDINGIP_METRICS_LISTEN="0")

    first = _serve(env)  # PostgreSQL up: loads the keys and saves them
    try:
        assert _pick(first.target, revoked) == grpc.StatusCode.OK
    finally:
        first.stop()
    subprocess.run(
        [SENDINGIP, "keys", "revoke", revoked.split("_")[1]], env=env, check=True, capture_output=True, timeout=60
    )
    private_pg.stop("fast")
    time.sleep(2.0)

    # Saved more than the bound ago (here 1.8 s): not served; every call UNAVAILABLE ("retry").
    stale = _serve({**env, "SENDINGIP_SAVED_KEYS_MAX_AGE_HOURS": "0.0005"})
    try:
        assert _pick(stale.target, mta) == grpc.StatusCode.UNAVAILABLE
    finally:
        stale.stop()
    assert re.search(r"saved api keys not served: PostgreSQL confirmed them \d+s ago, the limit is 2s", stale.output)

    # Within the bound (the default, 24 h): served, and the log says how old they are. The key
    # revoked after they were saved is accepted until PostgreSQL answers...
    recent = _serve(env)
    try:
        assert re.search(r"serving the api keys saved \d+s ago \(limit 24.0h\)", recent.output), recent.output
        assert _pick(recent.target, mta) == grpc.StatusCode.OK
        assert _pick(recent.target, revoked) == grpc.StatusCode.OK
        # ... and refused as soon as it does: the live keys replace the saved ones at once.
        private_pg.start()
        back = time.monotonic()
        wait_for(lambda: _pick(recent.target, revoked) == grpc.StatusCode.UNAUTHENTICATED, timeout=15, interval=0.1)
        replaced_after = time.monotonic() - back
        assert _pick(recent.target, mta) == grpc.StatusCode.OK
    finally:
        recent.stop()
    # The listener's reconnect backoff is at most 5 s; the key reload follows its connect.
    assert replaced_after < 7.0, replaced_after
    assert "Traceback" not in first.output + stale.output + recent.output
