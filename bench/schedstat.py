"""Whether the server under test had its CPU: the kernel's scheduler statistics around a run.

A latency figure measured on a shared machine mixes the server's own delays with the time
the kernel ran something else on its CPU while a request waited. ``/proc/PID/task/*/schedstat``
gives, per thread, the nanoseconds it ran and the nanoseconds it was runnable but waiting for
a CPU (its run-queue delay); ``/proc/stat`` how busy each CPU was. Read before and after a
run, they say how long the server waited for its CPU per second, and how much of its CPU
other processes took meanwhile. Linux only; elsewhere every figure is NaN.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Sample:
    at: float
    #: Nanoseconds the process's threads ran, and waited runnable for a CPU, since they started.
    ran_ns: int
    waited_ns: int
    #: Seconds CPU ``cpu`` was busy (anything but idle and iowait) since boot.
    cpu_busy: float


@dataclass(frozen=True)
class Share:
    #: Milliseconds per second of the run the server's threads waited, runnable, for a CPU.
    waited_ms_per_s: float
    #: CPU seconds per second the server used.
    server_cpu: float
    #: CPU seconds per second something else used on the server's CPU (other processes, the kernel).
    others_cpu: float


def read_process(pid: int) -> tuple[int, int]:
    """(ran, waited) nanoseconds summed over the threads of ``pid`` alive now."""
    ran = waited = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            fields = stat.read_text().split()
        except OSError:
            continue  # the thread ended meanwhile
        ran += int(fields[0])
        waited += int(fields[1])
    return ran, waited


def read_cpu_busy(cpu: str) -> float:
    """Seconds CPU ``cpu`` (e.g. ``"0"``) was busy since boot, from /proc/stat."""
    for line in Path("/proc/stat").read_text().splitlines():
        name, *ticks = line.split()
        if name == f"cpu{cpu}":
            values = [int(t) for t in ticks]
            idle = values[3] + (values[4] if len(values) > 4 else 0)
            return (sum(values[:8]) - idle) / _TICK
    return math.nan


def sample(pid: int, cpu: str | None) -> Sample:
    try:
        ran, waited = read_process(pid)
        busy = read_cpu_busy(cpu) if cpu is not None else math.nan
    except (OSError, ValueError, IndexError):
        return Sample(time.monotonic(), 0, 0, math.nan)
    return Sample(time.monotonic(), ran, waited, busy)


def share(before: Sample, after: Sample) -> Share:
    """What happened on the server's CPU between two samples."""
    seconds = after.at - before.at
    if seconds <= 0:
        return Share(math.nan, math.nan, math.nan)
    server = (after.ran_ns - before.ran_ns) / 1e9 / seconds
    others = (after.cpu_busy - before.cpu_busy) / seconds - server
    if others < 0:  # tick rounding when nothing else ran (NaN stays NaN)
        others = 0.0
    return Share((after.waited_ns - before.waited_ns) / 1e6 / seconds, server, others)
