"""Start the real `sendingip` processes as a user would, and talk to them over sockets.

The process wrapper itself is the benchmark's (``bench/process.py``): one way to start a
`sendingip` and read its log, for the benchmark and for these tests alike; ``bench``
cannot import from ``tests`` (it ships, the tests do not).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.process import LoggedProcess
from store.embedded import EmbeddedPostgres

SENDINGIP = str(Path(sys.executable).with_name("sendingip"))
_ADMIN_KEY = re.compile(r"admin key \(shown once\): (sip_\S+)")
_PGSERVER = importlib.util.find_spec("pgserver")
assert _PGSERVER is not None and _PGSERVER.origin is not None
#: pgserver's own pg_ctl; it refuses to run as root, so as root it runs as the
#: ``pgserver`` system user that pgserver runs PostgreSQL as.
PG_CTL = str(Path(_PGSERVER.origin).parent / "pginstall" / "bin" / "pg_ctl")


def sendingip_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDINGIP_")}
    env["SENDINGIP_DATABASE_URL"] = database_url
    # Tests take free ports: the HTTP door's default, 8080, would be shared by every server.
    env["SENDINGIP_HTTP_LISTEN"] = "127.0.0.1:0"
    env.update(extra)
    return env


class ServerProcess(LoggedProcess):
    """`sendingip serve --listen 127.0.0.1:0`, its port read from its log line.

    ``command`` runs another long-lived sub-command instead (e.g. ``["worker"]``)."""

    def __init__(
        self,
        env: Mapping[str, str],
        args: Sequence[str] = (),
        command: Sequence[str] = ("serve", "--listen", "127.0.0.1:0"),
    ) -> None:
        super().__init__([SENDINGIP, *command, *args], env)

    def wait_line(self, pattern: str, timeout: float = 30.0, after: int = 0) -> re.Match[str]:
        """The first log line from line ``after`` on that matches ``pattern``."""
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = after
        while True:
            lines = self.lines[seen:]
            for line in lines:
                if (match := compiled.search(line)) is not None:
                    return match
            seen += len(lines)
            if time.monotonic() > deadline or (self.proc.poll() is not None and not self._reader.is_alive()):
                if (match := compiled.search("\n".join(self.lines[after:]))) is not None:
                    return match
                raise AssertionError(f"no line matching {pattern!r} within {timeout}s:\n{self.output}")
            time.sleep(0.02)

    def wait_serving(self, timeout: float = 10.0) -> None:
        """Until its health check answers SERVING."""
        wait_for(lambda: health_status(self.target) == health_pb2.HealthCheckResponse.SERVING, timeout)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def metrics_url(self, timeout: float = 30.0) -> str:
        """The Prometheus endpoint (start the server with ``SENDINGIP_METRICS_LISTEN=127.0.0.1:0``)."""
        return f"http://127.0.0.1:{self.wait_metrics_port(timeout)}/metrics"

    def metric(self, name: str) -> float | None:
        """The value of an unlabelled metric, or None when it is not exported."""
        with urllib.request.urlopen(self.metrics_url(), timeout=5) as response:
            text = response.read().decode()
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        return float(match[1]) if match else None


def serve_router(database_url: str, data_dir: Path, **env: str) -> tuple[ServerProcess, str]:
    """`sendingip serve --no-workers` (no metrics endpoint unless ``env`` names one), once its
    health check answers SERVING: the process and the admin key it printed on first start."""
    settings = {"SENDINGIP_DATA_DIR": str(data_dir), "SENDINGIP_METRICS_LISTEN": "0", **env}
    server = ServerProcess(sendingip_env(database_url, **settings), ["--no-workers"])
    try:
        key = admin_key(server)
        server.wait_serving()
    except BaseException:
        server.stop()
        raise
    return server, key


def admin_key(server: ServerProcess) -> str:
    """The key a fresh `sendingip serve` prints once."""
    server.wait_listening()
    match = _ADMIN_KEY.search(server.output)
    assert match, server.output
    return match[1]


def run_cli(
    env: dict[str, str], *args: str, check: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``sendingip ARGS`` as an operator types it, with ``env`` (in folder ``cwd``); never a
    traceback, and with ``check`` exit code 0."""
    result = subprocess.run([SENDINGIP, *args], env=env, capture_output=True, text=True, timeout=60, cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def create_key(database_url: str, permissions: str, accounts: str | None = None) -> str:
    """A new API key made with `sendingip keys create`, as an operator makes one."""
    args = [SENDINGIP, "keys", "create", "--permissions", permissions]
    if accounts is not None:
        args += ["--accounts", accounts]
    out = subprocess.run(
        args, env=sendingip_env(database_url), capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return out.strip().splitlines()[-1]


class PrivatePostgres:
    """An embedded PostgreSQL of one test's own, which the test may stop and start.

    Tests that stop PostgreSQL use one of these, never the machine's shared server nor
    the session's test server. Stop and start go through pgserver's ``pg_ctl``.
    """

    def __init__(self, data_dir: Path) -> None:
        self.embedded = EmbeddedPostgres(data_dir)
        self.url = self.embedded.start()
        self.pgdata = self.embedded.data_dir
        # postmaster.pid: pid, data dir, start time, port, socket dir, ...
        lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        self.socket_dir = lines[4].strip()
        self.port = lines[3].strip()
        self.running = True

    def _pg_ctl(self, *args: str) -> None:
        command = [PG_CTL, "-D", str(self.pgdata), "-w", *args]
        if os.geteuid() == 0:
            # runuser, not subprocess's user=: setting the user between fork and exec in a
            # process full of gRPC threads crashed the child now and then (SIGSEGV).
            command = ["runuser", "-u", "pgserver", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def stop(self, mode: str = "fast") -> None:
        """``mode`` is pg_ctl's: ``fast`` (clean) or ``immediate`` (as in a crash)."""
        self._pg_ctl("-m", mode, "stop")
        self.running = False

    def start(self) -> None:
        self._pg_ctl(
            "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-o", f"-p {self.port}",
            "-l", str(self.pgdata / "log"), "start",
        )  # fmt: skip
        self.running = True

    def close(self) -> None:
        # pgserver only stops the postmaster it started; after a restart through pg_ctl
        # that is another process, so stop it here and let pgserver release its handle.
        if self.running:
            self.stop("fast")
        self.embedded.stop()


def health_status(target: str, service: str = "", timeout: float = 5.0) -> int:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        return int(response.status)


def wait_for(predicate: object, timeout: float = 10.0, interval: float = 0.05) -> None:
    """Poll ``predicate()`` until true; for state another process changes."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
