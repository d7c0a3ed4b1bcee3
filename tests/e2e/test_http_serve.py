"""`sendingip serve` answers HTTP/JSON (SPEC §5) on the port it logs, as a script meets it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from store.database import connect
from tests.support.databases import DatabaseFactory
from tests.support.processes import ServerProcess, create_key, sendingip_env, wait_for
from tests.support.routing import DEDICATED_IPS, GENERAL_IPS, seed_acme

pytestmark = pytest.mark.e2e


def _http(port: int, method: str, path: str, body: object = None, key: str | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if key is not None:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


async def test_serve_logs_its_http_port_and_answers_health_and_picks(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = await databases.create()
    async with connect(url) as db:
        await seed_acme(db)
    key = create_key(url, "route")
    # sendingip_env sets SENDINGIP_HTTP_LISTEN=127.0.0.1:0: a free port, announced in the log.
    server = ServerProcess(
        sendingip_env(url, SENDINGIP_DATA_DIR=str(tmp_path), SENDINGIP_METRICS_LISTEN="0"), ["--no-workers"]
    )
    try:
        port = int(server.wait_line(r"http listen=127\.0\.0\.1:(\d+)")[1])
        assert port != 0
        wait_for(lambda: _http(port, "GET", "/healthz") == (200, {"status": "SERVING"}), timeout=30)

        pick = {"account_id": "acme", "message_id": "<1@mta.example>", "recipient_domain": "gmail.com"}
        status, answer = _http(port, "POST", "/v1/select", pick, key)
        assert status == 200, answer
        assert answer["ip"] in GENERAL_IPS + DEDICATED_IPS and answer["mailbox_provider"] == "google"
        assert _http(port, "POST", "/v1/select", {**pick, "retry": True}, key) == (200, answer)

        status, refusal = _http(port, "POST", "/v1/select", pick)
        assert (status, refusal["code"]) == (401, "UNAUTHENTICATED")
    finally:
        server.stop()
    assert "Traceback" not in server.output, server.output
