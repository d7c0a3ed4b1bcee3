"""`sendingip ips add|list|remove|block|unblock|assign`: the region's IPs (AddIPs and the v2
inventory calls ListIPs, RemoveIPs, BlockIPs, UnblockIPs, AssignIPs).

``ips add --hostname ADDRESS=NAME`` (repeatable) gives an IP its EHLO/PTR name: shown by
``ips list``, written as ``smtp_helo_name`` by ``postfix master-cf``. An address named only
by ``--hostname`` is added too; one already present gets the new name.
"""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Iterable
from typing import Any

from cli import client, ip_admin, output
from cli.addresses import expand
from sendingip.v1 import management_pb2, types_pb2

#: Addresses per AddIPs call (each call is one transaction on the server).
BATCH = 10_000


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("ips", help="a region's IP addresses: add, list, remove, block, assign")
    sub = parser.add_subparsers(dest="ips_command", metavar="{add,list,remove,block,unblock,assign}", required=True)
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
    add.add_argument(
        "--hostname",
        action="append",
        default=[],
        metavar="ADDRESS=NAME",
        help="the IP's EHLO/PTR name (repeatable); replaces the name of an address already present",
    )
    add.add_argument("addresses", nargs="*", metavar="ADDRESS")
    client.add_client_options(add)
    add.set_defaults(func=add_command)
    ip_admin.register(sub)


def hostnames(pairs: Iterable[str]) -> dict[str, str]:
    """``--hostname ADDRESS=NAME`` values by address (the server checks both parts)."""
    found: dict[str, str] = {}
    for pair in pairs:
        address, sep, name = pair.partition("=")
        if not sep or not address.strip() or not name.strip():
            raise client.UsageError(f"--hostname {pair!r}: give ADDRESS=NAME, e.g. 192.0.2.1=mta1.example.com")
        found[_key(address)] = name.strip()
    return found


def _key(address: str) -> str:
    """One text per address, so that ``2001:DB8::1`` and ``2001:db8::1`` match."""
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return address.strip()  # the server names it in its error


def add_command(args: argparse.Namespace) -> int:
    purpose = types_pb2.IP_PURPOSE_INVENTORY if args.inventory else types_pb2.IP_PURPOSE_GENERAL_POOL

    def body(c: client.Client) -> int:
        names = hostnames(args.hostname)
        addresses = list(expand(args.addresses))
        given = {_key(a) for a in addresses}
        addresses += [a for a in names if a not in given]
        if not addresses:
            raise client.UsageError("name at least one ADDRESS (or --hostname ADDRESS=NAME)")
        added = present = 0
        for start in range(0, len(addresses), BATCH):
            batch = addresses[start : start + BATCH]
            response = c.call(
                c.management.AddIPs,
                management_pb2.AddIPsRequest(
                    region=args.region,
                    addresses=batch,
                    purpose=purpose,
                    hostnames=[names.get(_key(a), "") for a in batch] if names else [],
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
