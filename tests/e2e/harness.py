"""Start the real `sendingip` processes as a user would, and talk to them over sockets."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SENDINGIP = str(Path(sys.executable).with_name("sendingip"))
_SERVING = re.compile(r"serving listen=(\S+):(\d+)")


def sendingip_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDINGIP_")}
    env["SENDINGIP_DATABASE_URL"] = database_url
    env.update(extra)
    return env


class ServerProcess:
    """`sendingip serve --listen 127.0.0.1:0`, its port read from its log line."""

    def __init__(self, env: Mapping[str, str], args: Sequence[str] = ()) -> None:
        self.proc = subprocess.Popen(
            [SENDINGIP, "serve", "--listen", "127.0.0.1:0", *args],
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._port: int | None = None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            match = _SERVING.search(line)
            if match and self._port is None:
                self._port = int(match[2])
                self._ready.set()
        self._ready.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_listening(self, timeout: float = 30.0) -> int:
        if not self._ready.wait(timeout) or self._port is None:
            raise AssertionError(f"server did not start listening:\n{self.output}")
        return self._port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.wait_listening()}"

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


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
