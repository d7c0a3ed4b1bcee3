"""`sendingip bench` (the benchmark suite) and `sendingip loadtest` (simulated MTAs).

Both live in the ``bench`` package, installed with the others; they are imported when
the command runs, so the other commands do not pay for them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    bench = subparsers.add_parser(
        "bench",
        help="measure the router against its ceiling and a naive baseline; writes bench-results/latest.md",
        description="Runs the whole benchmark (see docs/benchmarks.md) against servers it starts itself.",
    )
    bench.add_argument("--quick", action="store_true", help="shorter runs and a 20k rebalance (~2 minutes)")
    bench.add_argument("--accounts", type=int, help="accounts in the routing table (10,000)")
    bench.add_argument("--repeats", type=int, help="repetitions of each measurement (3)")
    bench.add_argument("--seconds", type=float, help="seconds per throughput run (5; 2 with --quick)")
    bench.add_argument("--rebalance-accounts", type=int, help="accounts of the rebalance run (100,000; quick 20,000)")
    bench.add_argument("--no-rebalance", action="store_true", help="skip the rebalance figure")
    bench.add_argument("--out", type=Path, help="folder for latest.md and latest.json (bench-results)")
    bench.add_argument(
        "--routers", type=int, help="instead: N routers against one database of 1M accounts (docs/benchmarks.md)"
    )
    bench.set_defaults(func=bench_command)

    load = subparsers.add_parser(
        "loadtest",
        help="simulated MTAs at a target rate against a running router, with live progress",
        description="N concurrent MTAs ask TARGET for IPs at RATE requests/s in all, for DURATION seconds.",
    )
    load.add_argument(
        "--target",
        metavar="HOST:PORT",
        help="the router (default: SENDINGIP_LISTEN, else a local server's, else 127.0.0.1:50051)",
    )
    load.add_argument("--key", default=os.environ.get("SENDINGIP_API_KEY"), help="route key (SENDINGIP_API_KEY)")
    load.add_argument("--mtas", type=int, default=10, help="concurrent simulated MTAs, each with its connection")
    load.add_argument("--rate", type=float, default=1000, help="target requests per second, all MTAs together")
    load.add_argument("--duration", type=float, default=10, help="seconds")
    which = load.add_mutually_exclusive_group()
    which.add_argument("--accounts", help="account ids to send for, comma-separated")
    which.add_argument("--account-count", type=int, help="use acct-000000 … (the bench seed's ids)")
    load.add_argument("--provider-mix", default="google=50,microsoft=30,other=20", help="provider=weight,…")
    load.add_argument("--region", default="", help="region for accounts the router does not know")
    load.add_argument("--max-in-flight", type=int, default=256, help="outstanding calls per MTA before skipping")
    load.add_argument(
        "--counted",
        action="store_true",
        help="send first picks, counted into the history like real mail (default: retries, which leave nothing; "
        "the report says what a counted run added)",
    )
    load.add_argument("--json", action="store_true", help="print the final report as JSON")
    load.set_defaults(func=loadtest_command)


def bench_command(args: argparse.Namespace) -> int:
    from bench.suite import run_from_args

    return run_from_args(args, "sendingip bench " + " ".join(sys.argv[2:]))


def loadtest_command(args: argparse.Namespace) -> int:
    from bench.loadtest import LoadSpec, LoadTest, account_list, format_report, parse_mix
    from cli.client import server_address
    from cli.runtime import run_async

    try:
        spec = LoadSpec(
            target=args.target or server_address(argparse.Namespace(), os.environ),
            key=args.key,
            mtas=args.mtas,
            rate=args.rate,
            duration=args.duration,
            accounts=account_list(args.accounts, args.account_count),
            provider_mix=tuple(parse_mix(args.provider_mix)),
            region=args.region,
            max_in_flight=args.max_in_flight,
            counted=args.counted,
        )
        test = LoadTest(spec)
    except ValueError as exc:
        print(f"sendingip loadtest: {exc}", file=sys.stderr)
        return 2
    result = run_async(test.run())
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 1 if result["errors"] else 0
