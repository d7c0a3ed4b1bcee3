"""`sendingip accounts [list|show|create|mode|delete]`: the accounts, through the Management API.

``accounts mode ACCOUNT MODE`` pins an account (SPEC §2 rule 7): ``auto``, ``general``,
``dedicated`` or ``frozen``; the next rebalance honours it. ``accounts delete ACCOUNT --yes``
(DeleteAccount, v2): its IPs go to quarantine, its history stays until the window passes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from cli import client, output
from cli.paging import every_page, page_of
from cli.status import account_header
from sendingip.v1 import management_pb2, types_pb2
from server import account_facts
from server.proto_enums import MANAGEMENT_TYPE_TO_PROTO
from store.accounts import ACCOUNT_MODES


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("accounts", help="list, show or create accounts")
    sub = parser.add_subparsers(dest="accounts_command", metavar="{list,show,create,mode,delete}")

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

    delete = sub.add_parser(
        "delete",
        help="delete an account: its IPs go to quarantine, its picks to the general pool (DeleteAccount)",
        description="Its dedicated IPs stop taking its traffic and wait in quarantine; its history stays until "
        "the window passes; picks that still name it go to its region's general pool. `accounts create` "
        "brings it back as a General account.",
    )
    delete.add_argument("account", metavar="ACCOUNT")
    delete.add_argument("--yes", action="store_true", help="really delete (required)")
    client.add_client_options(delete)
    delete.set_defaults(func=delete_command)


def list_command(args: argparse.Namespace) -> int:
    def body(c: client.Client) -> int:
        management_type = MANAGEMENT_TYPE_TO_PROTO[args.type] if args.type else types_pb2.MANAGEMENT_TYPE_UNSPECIFIED

        def fetch(size: int, token: str) -> tuple[Sequence[types_pb2.Account], str]:
            request = management_pb2.ListAccountsRequest(
                region=args.region, management_type=management_type, page_size=size, page_token=token
            )
            return page_of(c.call(c.management.ListAccounts, request), "accounts")

        found = every_page(fetch, args.page_size, args.limit)
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
                account_facts.dedicated_ips_cell(a, "/"),
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


def delete_command(args: argparse.Namespace) -> int:
    def body(c: client.Client) -> int:
        if not args.yes:
            raise client.UsageError(f"deleting account {args.account} cannot be undone in place; add --yes")
        response = c.call(c.management.DeleteAccount, management_pb2.DeleteAccountRequest(account_id=args.account))
        if args.json:
            output.print_json(output.to_dict(response))
        else:
            print(f"account {response.account_id} deleted; {response.quarantined_ips} IPs went to quarantine")
        return 0

    return client.run(args, body)
