"""A `sendingip` process (or any server that logs like one) started as a user starts it.

Its output is read line by line in a thread; the ports it announces ("serving
listen=HOST:PORT", "metrics listen=HOST:PORT") are noted as they appear. The benchmark
and the end-to-end tests both build on this.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence

_SERVING = re.compile(r"serving listen=\S+:(\d+)")
_METRICS = re.compile(r"metrics listen=\S+:(\d+)")


class LoggedProcess:
    def __init__(self, cmd: Sequence[str], env: Mapping[str, str], *, keep_lines: int | None = None) -> None:
        self.cmd = list(cmd)
        self.proc = subprocess.Popen(
            self.cmd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        #: The output so far (the first ``keep_lines`` lines when bounded).
        self.lines: list[str] = []
        self.port = 0
        self.metrics_port = 0
        self._keep_lines = keep_lines
        self._listening = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if self._keep_lines is None or len(self.lines) < self._keep_lines:
                self.lines.append(line.rstrip("\n"))
            if not self.port and (m := _SERVING.search(line)):
                self.port = int(m[1])
                self._listening.set()
            if not self.metrics_port and (m := _METRICS.search(line)):
                self.metrics_port = int(m[1])
        self._listening.set()  # it ended: nobody waits for a port that will not come

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_listening(self, timeout: float = 30.0) -> int:
        """The gRPC port, once the process has announced it."""
        if not self._listening.wait(timeout) or not self.port:
            raise AssertionError(f"{self.cmd[0]} did not start listening:\n{self.output}")
        return self.port

    def wait_metrics_port(self, timeout: float = 30.0) -> int:
        """The metrics port (a router started with ``SENDINGIP_METRICS_LISTEN=127.0.0.1:0``)."""
        deadline = time.monotonic() + timeout
        while not self.metrics_port:
            if time.monotonic() > deadline or (self.proc.poll() is not None and not self._reader.is_alive()):
                raise AssertionError(f"no metrics endpoint in the log of {self.cmd[0]}:\n{self.output}")
            time.sleep(0.05)
        return self.metrics_port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.wait_listening()}"

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds. Idempotent."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
