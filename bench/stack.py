"""What a benchmark runs against: a database of its own, an API key, and real server processes.

The PostgreSQL is ``SENDINGIP_DATABASE_URL``'s server when set (the bench creates a
database of its own there and drops it afterwards), else an embedded one in a temporary
folder. Servers are started as a user starts them (``sendingip serve``), optionally
pinned to CPUs with ``taskset``, and found by their log lines.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench.process import LoggedProcess
from store.database import connect, with_database
from store.embedded import EmbeddedPostgres
from store.migrate import apply_migrations

SENDINGIP = str(Path(sys.executable).with_name("sendingip"))
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$", re.MULTILINE)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Admin URL of the PostgreSQL to use: ``SENDINGIP_DATABASE_URL``'s server, else an embedded one."""
    url = os.environ.get("SENDINGIP_DATABASE_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="sipbench-pg-") as tmp:
        embedded = EmbeddedPostgres(Path(tmp) / "pg")
        try:
            yield embedded.start()
        finally:
            embedded.stop()


@contextmanager
def bench_database(server_url: str) -> Iterator[str]:
    """A fresh, migrated database on ``server_url``, dropped on exit."""
    name = f"sipbench_{uuid.uuid4().hex[:10]}"

    async def create() -> str:
        async with connect(server_url) as admin:
            await admin.execute(f'CREATE DATABASE "{name}"')
        url = with_database(server_url, name)
        async with connect(url) as conn:
            await apply_migrations(conn)
        return url

    async def drop() -> None:
        async with connect(server_url) as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    url = asyncio.run(create())
    try:
        yield url
    finally:
        asyncio.run(drop())


def sendingip_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDINGIP_")}
    env.update(
        SENDINGIP_DATABASE_URL=database_url,
        SENDINGIP_DATA_DIR=str(data_dir),
        SENDINGIP_METRICS_LISTEN="127.0.0.1:0",
        SENDINGIP_HTTP_LISTEN="127.0.0.1:0",
        # The load generators replay a fixed set of message ids: with the 10-minute repeat
        # window on, all but the first of each would be answered from it (a cheaper path) and
        # not counted. Off, every request is a counted pick; the window's own cost per pick
        # is measured in process (docs/benchmarks.md).
        SENDINGIP_REPEAT_WINDOW_PICKS="0",
        SENDINGIP_AUTO_MIGRATE="0",
    )
    env.update(extra)
    return env


def create_key(env: Mapping[str, str], permissions: str = "route") -> str:
    """``sendingip keys create``: the key is alone on the last line of its output."""
    done = subprocess.run(
        [SENDINGIP, "keys", "create", "--permissions", permissions],
        env=dict(env),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1].strip()


def pinned(cmd: Sequence[str], cpus: str | None) -> list[str]:
    """``cmd`` under ``taskset -c cpus`` when asked and available."""
    if cpus is not None and shutil.which("taskset"):
        return ["taskset", "-c", cpus, *cmd]
    return list(cmd)


def serve_accepts_no_workers() -> bool:
    done = subprocess.run([SENDINGIP, "serve", "--help"], capture_output=True, text=True)
    return "--no-workers" in done.stdout


class ServerProcess(LoggedProcess):
    """A server started from ``cmd``; with ``metrics``, a router whose metrics endpoint is read."""

    def __init__(self, cmd: Sequence[str], env: Mapping[str, str], *, metrics: bool = True) -> None:
        super().__init__(cmd, env, keep_lines=5000)
        self._want_metrics = metrics

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Listening, and (for a router) its routing table loaded."""
        self.wait_listening(timeout)
        if self._want_metrics:
            self.wait_metrics_port(timeout)
            deadline = time.monotonic() + timeout
            while self.metric("sendingip_routing_loaded") < 1:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("router did not load its routing table:\n" + "\n".join(self.lines[-40:]))
                time.sleep(0.05)

    def metrics(self) -> dict[str, float]:
        """Every sample of the Prometheus endpoint, by name with labels."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        return {m[1]: float(m[2]) for m in _SAMPLE.finditer(text)}

    def metric(self, name: str) -> float:
        return self.metrics().get(name, -1.0)

    def door_port(self, name: str, timeout: float = 10.0) -> int:
        """The port of a door (``http``, ``postfix``, ``line``) from its ``NAME listen=HOST:PORT`` log line."""
        pattern = re.compile(rf"(?:^|[\s:]){re.escape(name)} listen=\S+:(\d+)")
        deadline = time.monotonic() + timeout
        while True:
            for line in list(self.lines):
                if m := pattern.search(line):
                    return int(m[1])
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"no '{name} listen=' line in the router's log:\n" + "\n".join(self.lines[-40:]))
            time.sleep(0.05)

    def picks(self) -> float:
        """Picks answered: counted (general + dedicated), or a message asked again within 10
        minutes, answered as before and not counted again (SPEC §3 v2; a load generator that
        replays a fixed set of requests makes mostly those)."""
        found = self.metrics()
        return sum(
            v
            for k, v in found.items()
            if k.startswith("sendingip_router_picks_total") or k == "sendingip_router_repeats_total"
        )

    def stop(self, timeout: float = 20.0) -> None:
        super().stop(timeout)


def start_router(env: Mapping[str, str], *, cpus: str | None = None, no_workers: bool = True) -> ServerProcess:
    cmd = [SENDINGIP, "serve", "--listen", "127.0.0.1:0"]
    if no_workers:
        cmd.insert(2, "--no-workers")
    server = ServerProcess(pinned(cmd, cpus), env)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server
