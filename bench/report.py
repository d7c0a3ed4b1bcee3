"""The benchmark's result: figures with their targets, as a markdown table and as JSON."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    """One line of the table."""

    name: str
    value: str
    #: The raw number(s) behind ``value``, for the JSON.
    data: dict[str, Any] = field(default_factory=dict)
    target: str = ""
    #: ``True``/``False`` when there is a target, ``None`` when the figure is informative.
    met: bool | None = None
    note: str = ""
    #: The issue whose goal this figure measures (e.g. ``"16"``): listed again under the table.
    issue: str = ""

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "—"
        return "met" if self.met else "**not met**"


@dataclass
class Report:
    started: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    command: str = ""
    mode: str = "full"
    machine: dict[str, str] = field(default_factory=dict)
    setup: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def markdown(self) -> str:
        m = self.machine
        lines = [
            f"### Benchmark ({self.mode}) — {self.started}",
            "",
            f"Machine: {m.get('cpu', '?')}, {m.get('cpus', '?')} CPUs, load average at start {m.get('load', '?')}; "
            f"{m.get('os', '?')}; Python {m.get('python', '?')}, grpcio {m.get('grpcio', '?')}, "
            f"protobuf {m.get('protobuf', '?')} ({m.get('protobuf_backend', '?')}), {m.get('postgres', '?')}, "
            f"{m.get('h2load', '?')}, {m.get('wrk', 'wrk ?')}.",
            "",
            f"Command: `{self.command}` ({self.seconds:.0f} s in all).",
            "",
        ]
        lines += [f"* {s}" for s in self.setup]
        lines += [
            "",
            "| figure | value | target | verdict |",
            "|---|---|---|---|",
        ]
        for f in self.figures:
            value = f.value + (f" <br><sub>{f.note}</sub>" if f.note else "")
            lines.append(f"| {f.name} | {value} | {f.target or '—'} | {f.verdict} |")
        met = sum(1 for f in self.figures if f.met is True)
        targeted = sum(1 for f in self.figures if f.met is not None)
        lines += ["", f"Targets met: {met} of {targeted}."]
        lines += self.goals_by_issue()
        if self.errors:
            lines += ["", "Errors and warnings:", ""] + [f"* {e}" for e in self.errors]
        return "\n".join(lines) + "\n"

    def goals_by_issue(self) -> list[str]:
        """The figures that measure an issue's goals, each measured value beside its goal."""
        issues = sorted({f.issue for f in self.figures if f.issue})
        lines: list[str] = []
        for issue in issues:
            lines += ["", f"Issue {issue}'s goals, measured in this run:", ""]
            for f in self.figures:
                if f.issue == issue:
                    lines.append(f"* {f.name}: {f.value} — goal {f.target or '—'}: {f.verdict}")
        return lines

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)

    def write(self, folder: Path) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        md, js = folder / "latest.md", folder / "latest.json"
        md.write_text(self.markdown())
        js.write_text(self.to_json())
        return md, js


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def machine(h2load: str | None = None, postgres: str = "?", wrk: str | None = None) -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "?"
    h2 = "h2load ?"
    if h2load:
        done = subprocess.run([h2load, "--version"], capture_output=True, text=True)
        h2 = done.stdout.strip() or h2
    wrk_version = "wrk ?"
    if wrk:
        done = subprocess.run([wrk, "-v"], capture_output=True, text=True)
        wrk_version = " ".join((done.stdout + done.stderr).split()[:2]) or wrk_version
    from google.protobuf.internal import api_implementation

    return {
        "cpu": cpu,
        "cpus": str(os.cpu_count()),
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "grpcio": _version("grpcio"),
        "protobuf": _version("protobuf"),
        "protobuf_backend": api_implementation.Type(),
        "postgres": postgres,
        "h2load": h2,
        "wrk": wrk_version,
    }
