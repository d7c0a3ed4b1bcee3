"""h2load as the unary load generator: a prepared gRPC body, the command line, and its output.

h2load speaks HTTP/2 and knows nothing of gRPC: it sends one prepared body (the 5-byte
gRPC frame header and the serialized request) with the gRPC headers, and counts any
HTTP 200 as a success, even when the trailers carry ``grpc-status`` ≠ 0. The caller
therefore checks the status another way (one call with a real gRPC client, and the
server's own pick counter against h2load's successes).

``--rps`` is not a steady rate: h2load's timer fires at most every 10 ms
(``rps_watcher.repeat = max(0.01, 1 / rps)`` in nghttp2's ``src/h2load.cc``) and then sends
every request that has come due, at once. Four clients at 375 requests/s each send about
15 requests together every 10 ms, and the last of them waits for the 14 before it: that,
not the server, was most of the bench's p99 at half load (docs/benchmarks.md, "Where the p99
goes"). ``paced`` spreads a rate over processes that each send at most one request per tick,
started a fraction of a tick apart.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

#: Debian/Ubuntu package that provides h2load.
PACKAGE = "nghttp2-client"
#: The shortest period of h2load's ``--rps`` timer (see above), seconds.
RPS_TICK = 0.01


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
    timed, other = parse_log_timed(text, since_us=since_us)
    return [seconds for _, seconds in timed], other


def parse_log_timed(text: str, *, since_us: int = 0) -> tuple[list[tuple[int, float]], int]:
    """``parse_log`` with each request's start (microseconds since the epoch)."""
    latencies: list[tuple[int, float]] = []
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
        latencies.append((start, micros / 1e6))
    return latencies, other


def bunched(starts_us: Sequence[int], within_us: int = 100) -> float:
    """The share of requests sent within ``within_us`` of the one before (all connections
    together): about 1 - exp(-rate × 0.1 ms) for arrivals at random, far more in ticks."""
    ordered = sorted(starts_us)
    if len(ordered) < 2:
        return 0.0
    close = sum(1 for a, b in pairwise(ordered) if b - a <= within_us)
    return close / (len(ordered) - 1)


def paced_processes(rate: float) -> int:
    """h2load processes that, sharing ``rate``, each send at most one request per tick."""
    return max(1, math.ceil(rate * RPS_TICK))


@dataclass(frozen=True)
class PacedRun:
    #: (start in µs since the epoch, seconds) of each answered request after the warm-up.
    timed: list[tuple[int, float]]
    #: Requests that failed, errored or were not HTTP 200.
    bad: int
    processes: int
    rps: float


def paced(
    h2load: str,
    url: str,
    *,
    body: Path,
    headers: Sequence[str],
    rate: float,
    duration: float,
    warm_up: float,
    logs: Path,
    cpus: str | None = None,
) -> PacedRun:
    """``rate`` requests/s, open loop, from ``paced_processes(rate)`` h2load processes of one
    connection each, started ``RPS_TICK / n`` apart: requests leave one at a time instead of
    in bunches every 10 ms (see above). ``logs``: a folder for their per-request logs."""
    n = paced_processes(rate)
    runs: list[tuple[subprocess.Popen[str], Path, float]] = []
    for i in range(n):
        log = logs / f"paced-{i}.log"
        cmd = command(
            h2load,
            url,
            body=body,
            headers=headers,
            duration=duration,
            warm_up=warm_up,
            clients=1,
            streams=16,
            rps=rate / n,
            log_file=log,
            cpus=cpus,
        )
        runs.append(
            (subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), log, time.time())
        )
        time.sleep(RPS_TICK / n)
    timed: list[tuple[int, float]] = []
    bad = 0
    rps = 0.0
    for proc, log, started in runs:
        out, _ = proc.communicate(timeout=duration + warm_up + 60)
        result = parse_output(out)
        rps += result.rps
        found, other = parse_log_timed(log.read_text(), since_us=int((started + warm_up) * 1e6))
        timed += found
        bad += other + result.failed + result.errored
    return PacedRun(timed, bad, n, rps)
