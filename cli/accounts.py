"""`sendingip accounts [list|show|create|mode]`: the accounts, through the Management API.

``accounts mode ACCOUNT MODE`` pins an account (SPEC §2 rule 7): ``auto``, ``general``,
``dedicated`` or ``frozen``; the next rebalance honours it.
"""

from __future__ import annotations

import argparse
from typing import Any

from cli import client, output
from cli.status import account_header
from sendingip.v1 import management_pb2, types_pb2
from server.proto_enums import MANAGEMENT_TYPE_TO_PROTO
from store.accounts import ACCOUNT_MODES


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("accounts", help="list, show or create accounts")
    sub = parser.add_subparsers(dest="accounts_command", metavar="{list,show,create,mode}")

    listing = sub.add_parser("list", help="accounts, filtered (the default)")
    for p in (parser, listing):
        p.add_argument("--region", default="", help="only this region")
        p.add_argument("--type", choices=sorted(MANAGEMENT_TYPE_TO_PROTO), help="only this management type")
        p.add_argument("--limit", type=int, default=0, help="at most this many (default: all)")
        p.add_argument("--page-size", type=int, default=500, help=argparse.SUPPRESS)
        client.add_client_options(p)
        p.set_defaults(func=list_command)

    show = sub.add_parser("show", help="one account (GetAccount)")
    show.add_argument("account", metavar="ACCOUNT")
    client.add_client_options(show)
    show.set_defaults(func=show_command)

    create = sub.add_parser("create", help="create an account in an existing region")
    create.add_argument("account", metavar="ACCOUNT")
    create.add_argument("--region", required=True)
    client.add_client_options(create)
    create.set_defaults(func=create_command)

    mode = sub.add_parser(
        "mode",
        help="pin an account's mode (rule 7): auto, general, dedicated or frozen",
        description="auto: the thresholds decide; general: never dedicated (drains a pool it has); "
        "dedicated: dedicated whatever the thresholds; frozen: the rebalancer leaves it alone. "
        "Takes effect at the next rebalance.",
    )
    mode.add_argument("account", metavar="ACCOUNT")
    mode.add_argument("mode", metavar="MODE", choices=ACCOUNT_MODES)
    client.add_client_options(mode)
    mode.set_defaults(func=mode_command)


def list_command(args: argparse.Namespace) -> int:
    def body(c: client.Client) -> int:
        found: list[types_pb2.Account] = []
        token = ""
        while True:
            size = args.page_size if not args.limit else min(args.page_size, args.limit - len(found))
            response = c.call(
                c.management.ListAccounts,
                management_pb2.ListAccountsRequest(
                    region=args.region,
                    management_type=(
                        MANAGEMENT_TYPE_TO_PROTO[args.type] if args.type else types_pb2.MANAGEMENT_TYPE_UNSPECIFIED
                    ),
                    page_size=size,
                    page_token=token,
                ),
            )
            found.extend(response.accounts)
            token = response.next_page_token
            if not token or (args.limit and len(found) >= args.limit):
                break
        if args.json:
            output.print_json([output.to_dict(a) for a in found])
            return 0
        rows = [
            (
                a.account_id,
                a.region,
                output.MANAGEMENT_TYPE_LABELS.get(a.management_type, "-"),
                output.percent(a.transition_progress_percent) if a.transition_started_on else "-",
                output.percent(a.dedicated_share_percent),
                f"{a.dedicated_ip_count}/{a.required_ips}",
                output.number(a.volume_30d),
                "yes" if a.warmup_paused else "",
            )
            for a in found
        ]
        headers = ("Account", "Region", "Type", "Progress", "Dedicated share", "IPs", "30-day volume", "Paused")
        print(output.table(headers, rows, right=(3, 4, 5, 6)) if rows else "(no accounts)")
        return 0

    return client.run(args, body)


def show_command(args: argparse.Namespace) -> int:
    def body(c: client.Client) -> int:
        account = c.call(c.management.GetAccount, management_pb2.GetAccountRequest(account_id=args.account))
        if args.json:
            output.print_json(output.to_dict(account))
        else:
            print(account_header(account))
        return 0

    return client.run(args, body)


def create_command(args: argparse.Namespace) -> int:
    def body(c: client.Client) -> int:
        account = c.call(
            c.management.CreateAccount,
            management_pb2.CreateAccountRequest(account_id=args.account, region=args.region),
        )
        if args.json:
            output.print_json(output.to_dict(account))
        else:
            print(f"account {account.account_id} is in region {account.region}")
        return 0

    return client.run(args, body)


def mode_command(args: argparse.Namespace) -> int:
    def body(c: client.Client) -> int:
        account = c.call(
            c.management.SetAccountMode,
            management_pb2.SetAccountModeRequest(account_id=args.account, mode=args.mode),
        )
        if args.json:
            output.print_json(output.to_dict(account))
        else:
            print(f"account {account.account_id} is in mode {account.mode} (the next rebalance honours it)")
        return 0

    return client.run(args, body)
