"""h2load as the unary load generator: a prepared gRPC body, the command line, and its output.

h2load speaks HTTP/2 and knows nothing of gRPC: it sends one prepared body (the 5-byte
gRPC frame header and the serialized request) with the gRPC headers, and counts any
HTTP 200 as a success, even when the trailers carry ``grpc-status`` ≠ 0. The caller
therefore checks the status another way (one call with a real gRPC client, and the
server's own pick counter against h2load's successes).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Debian/Ubuntu package that provides h2load.
PACKAGE = "nghttp2-client"


def grpc_frame(message: bytes) -> bytes:
    """A length-prefixed gRPC message: flag 0 (uncompressed), 4-byte big-endian length, the bytes."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def grpc_headers(authorization: str | None = None) -> list[str]:
    headers = ["content-type: application/grpc", "te: trailers"]
    if authorization:
        headers.append(f"authorization: Bearer {authorization}")
    return headers


class H2loadMissing(RuntimeError):
    pass


def ensure_h2load() -> str:
    """The path of h2load, installing ``nghttp2-client`` with apt-get when root may; else a clear error."""
    found = shutil.which("h2load")
    if found:
        return found
    how = f"install it with: sudo apt-get install -y {PACKAGE}   (or: brew install nghttp2)"
    if shutil.which("apt-get") and os.geteuid() == 0:
        result = subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", PACKAGE], capture_output=True, text=True
        )
        found = shutil.which("h2load")
        if result.returncode == 0 and found:
            return found
        raise H2loadMissing(
            f"h2load is missing and 'apt-get install {PACKAGE}' failed:\n{result.stderr[-2000:]}\n{how}"
        )
    raise H2loadMissing(f"h2load (nghttp2) is needed for the unary benchmark; {how}")


def command(
    h2load: str,
    url: str,
    *,
    body: Path,
    headers: Sequence[str],
    duration: float,
    warm_up: float = 1.0,
    clients: int = 4,
    streams: int = 32,
    rps: float | None = None,
    log_file: Path | None = None,
    cpus: str | None = None,
) -> list[str]:
    """The h2load command line; ``cpus`` pins it with taskset (e.g. ``"1"``)."""
    cmd = [
        h2load,
        url,
        "-d",
        str(body),
        "-c",
        str(clients),
        "-m",
        str(streams),
        "-t",
        "1",
        "-D",
        f"{duration:g}",
        f"--warm-up-time={warm_up:g}",
    ]
    for header in headers:
        cmd += ["-H", header]
    if rps is not None:
        cmd.append(f"--rps={rps:g}")
    if log_file is not None:
        cmd += ["--log-file", str(log_file)]
    if cpus is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", cpus, *cmd]
    return cmd


@dataclass(frozen=True)
class H2loadResult:
    requests_total: int
    succeeded: int
    failed: int
    errored: int
    timeout: int
    status_2xx: int
    status_other: int
    #: Requests per second over the measured duration (h2load's "finished in …, N req/s").
    rps: float
    seconds: float


_FINISHED = re.compile(r"finished in ([\d.]+)(ms|s|us), ([\d.]+) req/s")
_REQUESTS = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout"
)
_CODES = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")
_UNIT = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


def parse_output(text: str) -> H2loadResult:
    """The summary of h2load's standard output; ``ValueError`` when it is not there."""
    finished = _FINISHED.search(text)
    requests = _REQUESTS.search(text)
    codes = _CODES.search(text)
    if finished is None or requests is None or codes is None:
        raise ValueError(f"unexpected h2load output:\n{text[-2000:]}")
    total, _started, _done, succeeded, failed, errored, timeout = (int(g) for g in requests.groups())
    c2, c3, c4, c5 = (int(g) for g in codes.groups())
    return H2loadResult(
        requests_total=total,
        succeeded=succeeded,
        failed=failed,
        errored=errored,
        timeout=timeout,
        status_2xx=c2,
        status_other=c3 + c4 + c5,
        rps=float(finished[3]),
        seconds=float(finished[1]) * _UNIT[finished[2]],
    )


def parse_log(text: str, *, since_us: int = 0) -> tuple[list[float], int]:
    """Per-request latencies in seconds from ``--log-file`` (HTTP 200 only, started at or after
    ``since_us``), and the number of other lines (non-200 or malformed)."""
    latencies: list[float] = []
    other = 0
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            if line.strip():
                other += 1
            continue
        try:
            start, status, micros = int(parts[0]), int(parts[1]), int(parts[2])
        except ValueError:
            other += 1
            continue
        if start < since_us:
            continue
        if status != 200:
            other += 1
            continue
        latencies.append(micros / 1e6)
    return latencies, other
