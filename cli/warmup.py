"""`sendingip warmup pause|resume ACCOUNT`: hold an account's warm-up, or let it go on."""

from __future__ import annotations

import argparse
from typing import Any

from cli import client, output
from sendingip.v1 import management_pb2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("warmup", help="pause or resume an account's warm-up")
    sub = parser.add_subparsers(dest="warmup_command", metavar="{pause,resume}", required=True)
    for name, help_text in (
        ("pause", "stop advancing the account's warm-up stages (nothing is lost)"),
        ("resume", "advance the account's warm-up again from where it was paused"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("account", metavar="ACCOUNT")
        client.add_client_options(p)
        p.set_defaults(func=command, pause=name == "pause")


def command(args: argparse.Namespace) -> int:
    def body(c: client.Client) -> int:
        if args.pause:
            account = c.call(c.management.PauseWarmup, management_pb2.PauseWarmupRequest(account_id=args.account))
        else:
            account = c.call(c.management.ResumeWarmup, management_pb2.ResumeWarmupRequest(account_id=args.account))
        if args.json:
            output.print_json(output.to_dict(account))
        else:
            state = "paused" if account.warmup_paused else "running"
            print(f"account {account.account_id}: warm-up {state} (takes effect at the next rebalance)")
        return 0

    return client.run(args, body)
