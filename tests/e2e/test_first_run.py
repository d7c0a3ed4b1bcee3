"""A newcomer's first run, with the real CLI and the embedded database (issue 18).

``sendingip serve`` in one folder creates the embedded PostgreSQL, says what it does and
prints every address; commands run from another folder use that database and that server
(no ``SENDINGIP_LISTEN``, no second, empty database); a command that would create one
refuses and says how; ``sendingip reset --yes`` starts over, never while the server runs.
HOME is the test's own (the note of the data folder lives under it), and the folders live
outside pytest's (``tests/embedded_pg.py`` says why).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from bench.process import LoggedProcess
from tests.embedded_pg import own_folder
from tests.support.processes import SENDINGIP, run_cli, sendingip_env, serve_router

pytestmark = pytest.mark.e2e

BANNER = "sendingip is serving"


@pytest.fixture
def folders() -> Iterator[tuple[dict[str, str], Path, Path]]:
    """An operator's environment without any SENDINGIP_ variable, HOME of its own; the
    server's folder and another one."""
    with own_folder() as root:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENDINGIP_") and k != "XDG_STATE_HOME"}
        env["HOME"] = str(root / "home")
        server_folder, other = root / "checkout", root / "elsewhere"
        server_folder.mkdir()
        other.mkdir()
        yield env, server_folder, other


def _serve(env: dict[str, str], folder: Path) -> LoggedProcess:
    """`sendingip serve` started from ``folder``; free ports, the metrics endpoint on."""
    ports = {
        "SENDINGIP_LISTEN": "127.0.0.1:0",
        "SENDINGIP_HTTP_LISTEN": "127.0.0.1:0",
        "SENDINGIP_METRICS_LISTEN": "127.0.0.1:0",
    }
    return LoggedProcess(["sh", "-c", f'cd "{folder}" && exec "{SENDINGIP}" serve'], {**env, **ports})


#: The banner's last line (cli/local_server.py ``banner``): all of it has arrived.
BANNER_END = "Client commands as this user find the gRPC address in"


def _wait_banner(server: LoggedProcess) -> str:
    deadline = time.monotonic() + 60
    while BANNER not in server.output or BANNER_END not in server.output.split(BANNER, 1)[1]:
        assert time.monotonic() < deadline and server.proc.poll() is None, server.output
        time.sleep(0.05)
    return server.output


def test_first_run_one_database_from_every_folder_and_starting_over(
    folders: tuple[dict[str, str], Path, Path],
) -> None:
    env, checkout, elsewhere = folders

    # Before any server: a command elsewhere refuses to make an empty database.
    refused = run_cli(env, "keys", "create", "--permissions", "admin", cwd=elsewhere, check=False)
    assert refused.returncode == 2, refused.stderr
    assert "would start a new, empty one" in refused.stderr
    assert "--init" in refused.stderr and "SENDINGIP_DATABASE_URL" in refused.stderr
    assert not (elsewhere / ".data").exists()

    server = _serve(env, checkout)
    try:
        output = _wait_banner(server)
        # What happens while it starts, and every address it listens on.
        assert "creating a new embedded PostgreSQL" in output
        assert re.search(r"schema up to date: \d+ migrations applied in", output)
        grpc = re.search(r"gRPC \(Router, Management\)\s+(127\.0\.0\.1:\d+)", output)
        http = re.search(r"HTTP door and /healthz\s+(127\.0\.0\.1:\d+)", output)
        metrics = re.search(r"metrics \(Prometheus\)\s+(127\.0\.0\.1:\d+)", output)
        assert grpc and http and metrics, output
        assert "Postfix policy door        off (set SENDINGIP_POSTFIX_LISTEN to open it)" in output
        data = checkout / ".data"
        recorded = json.loads((data / "server.json").read_text())
        assert recorded["grpc"] == grpc[1] and recorded["pid"] == server.proc.pid

        # From another folder: the same database (the key works on the server) and the same
        # server, found without SENDINGIP_LISTEN.
        key = run_cli(env, "keys", "create", "--permissions", "admin", cwd=elsewhere).stdout.strip().splitlines()[-1]
        assert not (elsewhere / ".data").exists()
        client = {**env, "SENDINGIP_API_KEY": key}
        run_cli(client, "ips", "add", "--region", "us-east", "--general", "192.0.2.1", cwd=elsewhere)
        run_cli(client, "accounts", "create", "acme", "--region", "us-east", cwd=elsewhere)
        status = run_cli(client, "status", "acme", cwd=elsewhere).stdout
        assert "Dedicated IPs: none (General: the shared pool)" in status  # not "0 of 1 required"
        assert "Since" not in status
        listed = run_cli(client, "accounts", "list", cwd=elsewhere).stdout
        assert "acme" in listed and "0/1" not in listed, listed

        # No reset while the server runs.
        busy = run_cli(env, "reset", "--yes", cwd=elsewhere, check=False)
        assert busy.returncode == 2 and f"pid {server.proc.pid}" in busy.stderr
        assert (data / "postgres" / "PG_VERSION").is_file()
    finally:
        server.stop()
    assert server.proc.returncode == 0, server.output
    assert not (checkout / ".data" / "server.json").exists()  # the server took its note away

    # Never a SENDINGIP_DATABASE_URL database.
    url = run_cli({**env, "SENDINGIP_DATABASE_URL": "postgresql://127.0.0.1:1/x"}, "reset", "--yes", check=False)
    assert url.returncode == 2 and "deletes only the embedded database" in url.stderr
    assert (checkout / ".data" / "postgres" / "PG_VERSION").is_file()

    # Starting over, from anywhere: the embedded database and its router files go (a new
    # one would have the same address, so they would pass for its own), another
    # database's stay; then nothing is found, and commands refuse again.
    data = checkout / ".data"
    ours = sorted(p.name for p in (data / "router").iterdir())
    assert any(name.startswith("routing-") for name in ours), ours
    foreign = data / "router" / "routing-ffffffffffffffff.tsv"
    foreign.write_text("another database's snapshot\n")
    asked = run_cli(env, "reset", cwd=elsewhere, check=False)
    assert asked.returncode == 2 and "run again with --yes" in asked.stdout
    assert "router/routing-ffffffffffffffff.tsv" not in asked.stdout
    run_cli(env, "reset", "--yes", cwd=elsewhere)
    assert sorted(p.relative_to(data).as_posix() for p in data.rglob("*")) == [
        "router",
        "router/routing-ffffffffffffffff.tsv",
    ]
    again = run_cli(env, "keys", "create", "--permissions", "admin", cwd=elsewhere, check=False)
    assert again.returncode == 2 and "would start a new, empty one" in again.stderr


async def test_a_load_test_leaves_nothing_unless_counted_and_then_says_what(db_url: str, tmp_path: Path) -> None:
    """`sendingip loadtest` against "your own router": by default its picks go as retries
    (no account, no history); with --counted the report names what the run added."""
    server, key = serve_router(db_url, tmp_path / "data", SENDINGIP_HISTORY_FLUSH_INTERVAL="0.2")
    env = {**sendingip_env(db_url), "SENDINGIP_API_KEY": key, "SENDINGIP_LISTEN": server.target}
    load = ["loadtest", "--accounts", "lt-a,lt-b", "--region", "us-east", "--rate", "100", "--duration", "1"]

    async def written() -> tuple[int, int]:
        conn = await asyncpg.connect(db_url)
        try:
            accounts = await conn.fetchval("SELECT count(*) FROM accounts WHERE account_id LIKE 'lt-%'")
            history = await conn.fetchval("SELECT count(*) FROM daily_history WHERE account_id LIKE 'lt-%'")
            return int(accounts), int(history)
        finally:
            await conn.close()

    try:
        await asyncio.to_thread(run_cli, env, "ips", "add", "--region", "us-east", "--general", "192.0.2.1")
        quiet = await asyncio.to_thread(run_cli, env, *load)
        assert "answered 100" in quiet.stdout, quiet.stdout
        assert "left     nothing: the picks went as retries" in quiet.stdout
        await asyncio.sleep(1.0)  # five history flushes
        assert await written() == (0, 0)

        counted = await asyncio.to_thread(run_cli, env, *load, "--counted")
        assert "left     100 picks counted into today's history of 2 accounts (lt-a, lt-b)" in counted.stdout
        assert "sendingip accounts delete ID --yes" in counted.stdout
        for _ in range(100):
            accounts, history = await written()
            if accounts == 2:
                break
            await asyncio.sleep(0.1)
        assert accounts == 2 and history > 0
    finally:
        await asyncio.to_thread(server.stop)
