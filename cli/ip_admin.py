"""`sendingip ips list|remove|block|unblock|assign` (SPEC §4 v2): the IP inventory calls.

Registered under ``sendingip ips`` by ``cli.ips``. ADDRESS arguments take what ``ips add``
takes: single addresses, CIDR ranges, or ``-`` for stdin. Each command is one call, all or
none: a refusal (an address the system does not hold, the last general IP of a region)
changes nothing and says what to do.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf.message import Message

from cli import client, output
from cli.addresses import expand
from cli.paging import every_page, page_of
from sendingip.v1 import management_pb2

#: ListIPs states (server/management/inventory.py IP_STATES).
STATES = ("general", "free", "assigned", "draining", "quarantined", "blocked")


def register(sub: Any) -> None:
    listing = sub.add_parser("list", help="every IP with its state, account and hostname (ListIPs)")
    listing.add_argument("--region", default="", help="only this region")
    listing.add_argument("--state", default="", choices=STATES, help="only IPs in this state")
    listing.add_argument("--account", default="", help="only this account's IPs")
    listing.add_argument("--limit", type=int, default=0, help="at most this many (default: all)")
    listing.add_argument("--page-size", type=int, default=1000, help=argparse.SUPPRESS)
    client.add_client_options(listing)
    listing.set_defaults(func=list_command)

    remove = sub.add_parser(
        "remove",
        help="take IPs out of the system (RemoveIPs)",
        description="Free and quarantined IPs leave at once; assigned and general ones stop taking traffic "
        "now and leave once drained (the rebalancer deletes them after drain_days). The last general IP "
        "of a region with accounts is refused.",
    )
    _addresses(remove)
    remove.set_defaults(func=remove_command)

    block = sub.add_parser(
        "block",
        help="stop routing through IPs, e.g. listed on a blocklist (BlockIPs)",
        description="A blocked IP takes no traffic from the routing version this publishes; an account "
        "that loses a dedicated IP gets a replacement from inventory at the next rebalance.",
    )
    block.add_argument("--reason", required=True, help="why, e.g. 'listed on Spamhaus SBL' (shown in ips list)")
    _addresses(block)
    block.set_defaults(func=block_command)

    unblock = sub.add_parser("unblock", help="let blocked IPs take traffic again (UnblockIPs)")
    _addresses(unblock)
    unblock.set_defaults(func=unblock_command)

    assign = sub.add_parser(
        "assign",
        help="hand free IPs to an account's dedicated pool (AssignIPs)",
        description="Free IPs of the account's region join its dedicated pool and warm up from stage 0 at "
        "the next rebalance. The account must be in Transition or Dedicated.",
    )
    assign.add_argument("account", metavar="ACCOUNT")
    _addresses(assign)
    assign.set_defaults(func=assign_command)


def _addresses(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("addresses", nargs="+", metavar="ADDRESS", help="an address, a CIDR range, or - for stdin")
    client.add_client_options(parser)


def _expanded(args: argparse.Namespace) -> list[str]:
    return list(expand(args.addresses))


def list_command(args: argparse.Namespace) -> int:
    def body(c: client.Client) -> int:
        def fetch(size: int, token: str) -> tuple[Sequence[management_pb2.InventoryIP], str]:
            request = management_pb2.ListIPsRequest(
                region=args.region, state=args.state, account_id=args.account, page_size=size, page_token=token
            )
            return page_of(c.call(c.management.ListIPs, request), "ips")

        found = every_page(fetch, args.page_size, args.limit)
        if args.json:
            output.print_json([output.to_dict(ip) for ip in found])
            return 0
        rows = [
            (
                ip.address,
                ip.region,
                ip.state,
                ip.account_id or "-",
                ip.hostname or "-",
                ip.since or "-",
                ip.blocked_reason or (f"until {ip.quarantine_until}" if ip.quarantine_until else ""),
            )
            for ip in found
        ]
        headers = ("Address", "Region", "State", "Account", "Hostname", "Since", "Note")
        print(output.table(headers, rows) if rows else "(no IPs)")
        return 0

    return client.run(args, body)


def _call(args: argparse.Namespace, method: str, request: Callable[[], Message], summary: Callable[[Any], str]) -> int:
    """One Management call; its response as JSON, or ``summary``'s line."""

    def body(c: client.Client) -> int:
        response = c.call(getattr(c.management, method), request())
        if args.json:
            output.print_json(output.to_dict(response))
        else:
            print(summary(response))
        return 0

    return client.run(args, body)


def remove_command(args: argparse.Namespace) -> int:
    return _call(
        args,
        "RemoveIPs",
        lambda: management_pb2.RemoveIPsRequest(addresses=_expanded(args)),
        lambda r: f"removed {r.removed}; draining {r.draining} (they leave once drained)",
    )


def block_command(args: argparse.Namespace) -> int:
    return _call(
        args,
        "BlockIPs",
        lambda: management_pb2.BlockIPsRequest(addresses=_expanded(args), reason=args.reason),
        lambda r: f"blocked {r.blocked}; already blocked {r.already_blocked}",
    )


def unblock_command(args: argparse.Namespace) -> int:
    return _call(
        args,
        "UnblockIPs",
        lambda: management_pb2.UnblockIPsRequest(addresses=_expanded(args)),
        lambda r: f"unblocked {r.unblocked}; not blocked {r.not_blocked}",
    )


def assign_command(args: argparse.Namespace) -> int:
    return _call(
        args,
        "AssignIPs",
        lambda: management_pb2.AssignIPsRequest(account_id=args.account, addresses=_expanded(args)),
        lambda r: f"assigned {r.assigned} to account {args.account} (they warm up from stage 0 at the next rebalance)",
    )
