"""``sendingip simulate SCENARIO``: run the policy over a scenario file, write CSV and chart."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from workers.policy import longest_warm_stage
from workers.simulate.compare import RULES, rows, table, with_rules
from workers.simulate.scenario import Scenario, ScenarioError, load_scenario
from workers.simulate.timeline import Result, run, stderr_progress, summary

#: Progress lines go to stderr from this many account-days on.
PROGRESS_FROM = 20_000


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="run the policy over simulated days and write a timeline table and chart",
        description=(
            "Runs the policy day by day over a scenario (TOML) without a database and writes "
            "timeline.csv and chart.png. See docs/policy.md for the scenario format."
        ),
    )
    parser.add_argument("scenario", type=Path, help="scenario file, e.g. workers/scenarios/growing.toml")
    parser.add_argument("--out", type=Path, help="output folder (default out/simulate/<scenario name>)")
    parser.add_argument("--days", type=int, help="simulate this many days instead of the scenario's")
    parser.add_argument(
        "--chart-accounts",
        type=int,
        default=8,
        metavar="N",
        help="chart the first N accounts (default 8; 0 for no chart)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress and no per-account summary")
    parser.add_argument(
        "--compare",
        action="store_true",
        help=(
            "run the scenario under warmup_rules v1 and v2 on the same history: writes "
            "timeline-v1.csv, timeline-v2.csv and compare.png, and prints a table per account"
        ),
    )
    parser.set_defaults(func=simulate)


def simulate(args: argparse.Namespace) -> int:
    if args.days is not None and args.days < 1:
        print("sendingip simulate: --days must be >= 1", file=sys.stderr)
        return 2
    if args.chart_accounts < 0:
        print("sendingip simulate: --chart-accounts must be >= 0", file=sys.stderr)
        return 2
    try:
        scenario = load_scenario(args.scenario, days=args.days)
    except ScenarioError as exc:
        print(f"sendingip simulate: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out or Path("out") / "simulate" / _slug(scenario.name)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"sendingip simulate: --out {out}: {exc.strerror}", file=sys.stderr)
        return 2
    if args.compare:
        return _compare(args, scenario, out)
    quiet: bool = args.quiet
    long_run = len(scenario.accounts) * scenario.days >= PROGRESS_FROM
    progress = stderr_progress(scenario.days) if long_run and not quiet else None
    csv_path = out / "timeline.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as csv_out:
        result = run(scenario, csv_out, progress)
    written = [csv_path]
    if args.chart_accounts:
        from workers.simulate.chart import write_chart

        chart_path = out / "chart.png"
        charted = list(result.timelines.values())[: args.chart_accounts]
        title = f"sendingip simulate: {scenario.name}" + (
            f" (first {len(charted)} of {len(result.timelines)} accounts)"
            if len(charted) < len(result.timelines)
            else ""
        )
        warm = longest_warm_stage(scenario.policy)
        write_chart(chart_path, title, charted, list(result.general.values()), warm)
        written.append(chart_path)
    lines = summary(result, detail_limit=0 if quiet else 12)
    for line in lines:
        print(line)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _compare(args: argparse.Namespace, scenario: Scenario, out: Path) -> int:
    """Both rule sets on the same history: two timelines, one chart, one table."""
    long_run = len(scenario.accounts) * scenario.days >= PROGRESS_FROM
    results: dict[str, Result] = {}
    written: list[Path] = []
    for rules in RULES:
        progress = stderr_progress(scenario.days) if long_run and not args.quiet else None
        csv_path = out / f"timeline-{rules}.csv"
        with csv_path.open("w", encoding="utf-8", newline="") as csv_out:
            results[rules] = run(with_rules(scenario, rules), csv_out, progress)
        written.append(csv_path)
    v1, v2 = results["v1"], results["v2"]
    if args.chart_accounts:
        from workers.simulate.chart import write_compare_chart

        chart_path = out / "compare.png"
        ids = list(v2.timelines)[: args.chart_accounts]
        title = f"sendingip simulate --compare: {scenario.name}, v1 dashed, v2 solid" + (
            f" (first {len(ids)} of {len(v2.timelines)} accounts)" if len(ids) < len(v2.timelines) else ""
        )
        write_compare_chart(chart_path, title, [(v1.timelines[a], v2.timelines[a]) for a in ids])
        written.append(chart_path)
    print(
        f"scenario {scenario.name}: {len(scenario.accounts)} accounts x {scenario.days} days, "
        "warmup_rules v1 and v2 on the same history"
    )
    print("sending days in Transition before Dedicated; mail over a limit; mail the shared pool took as overflow")
    for line in table(rows(v1, v2)):
        print("  " + line)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "scenario"
