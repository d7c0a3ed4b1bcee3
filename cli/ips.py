"""`sendingip ips add --region R (--inventory|--general) ADDRESS...` (AddIPs)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from cli import client, output
from sendingip.v1 import management_pb2, types_pb2

#: Addresses per AddIPs call (each call is one transaction on the server).
BATCH = 10_000
#: A CIDR range given on the command line expands to at most this many addresses.
MAX_RANGE = 65_536


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("ips", help="add IP addresses to a region")
    sub = parser.add_subparsers(dest="ips_command", metavar="{add}", required=True)
    add = sub.add_parser(
        "add",
        help="add addresses to a region's inventory or general pool (idempotent)",
        description="Add addresses to a region (created if new). ADDRESS may be a CIDR range "
        "(198.51.100.0/28 adds its 14 host addresses) or '-' to read addresses from stdin, one a line.",
    )
    add.add_argument("--region", required=True)
    purpose = add.add_mutually_exclusive_group(required=True)
    purpose.add_argument("--inventory", action="store_true", help="free IPs the rebalancer assigns to dedicated pools")
    purpose.add_argument("--general", action="store_true", help="the region's shared pool")
    add.add_argument("addresses", nargs="+", metavar="ADDRESS")
    client.add_client_options(add)
    add.set_defaults(func=add_command)


def expand(items: Iterable[str]) -> Iterator[str]:
    """Addresses as given; a CIDR range as its addresses; ``-`` as stdin's lines."""
    for item in items:
        if item == "-":
            yield from expand(line.strip() for line in sys.stdin if line.strip() and not line.startswith("#"))
        elif "/" in item:
            try:
                network = ipaddress.ip_network(item, strict=True)
            except ValueError as exc:
                raise client.UsageError(f"{item!r} is not an address range: {exc}") from None
            if network.num_addresses > MAX_RANGE:
                raise client.UsageError(f"{item}: at most {MAX_RANGE} addresses per range")
            # Its usable hosts: a /24 gives .1-.254 (network and broadcast are no sending IPs).
            yield from (str(a) for a in network.hosts())
        else:
            yield item  # the server validates single addresses, naming a bad one


def add_command(args: argparse.Namespace) -> int:
    purpose = types_pb2.IP_PURPOSE_INVENTORY if args.inventory else types_pb2.IP_PURPOSE_GENERAL_POOL

    def body(c: client.Client) -> int:
        addresses = list(expand(args.addresses))
        added = present = 0
        for start in range(0, len(addresses), BATCH):
            response = c.call(
                c.management.AddIPs,
                management_pb2.AddIPsRequest(
                    region=args.region, addresses=addresses[start : start + BATCH], purpose=purpose
                ),
            )
            added += response.added
            present += response.already_present
        if args.json:
            output.print_json({"region": args.region, "added": added, "already_present": present})
        else:
            where = "inventory" if args.inventory else "general pool"
            print(f"region {args.region} {where}: added {added}, already present {present}")
        return 0

    return client.run(args, body)
