"""`sendingip regions` (SPEC §4 v2, ListRegions): each region's IPs by state and its accounts."""

from __future__ import annotations

import argparse
from typing import Any

from cli import client, output
from sendingip.v1 import management_pb2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("regions", help="each region's IPs by state, and its accounts")
    client.add_client_options(parser)
    parser.set_defaults(func=regions_command)


def regions_command(args: argparse.Namespace) -> int:
    def body(c: client.Client) -> int:
        response = c.call(c.management.ListRegions, management_pb2.ListRegionsRequest())
        if args.json:
            output.print_json([output.to_dict(r) for r in response.regions])
            return 0
        rows = [
            (
                r.name,
                *(
                    output.number(n)
                    for n in (
                        r.general_ips,
                        r.free_ips,
                        r.assigned_ips,
                        r.draining_ips,
                        r.quarantined_ips,
                        r.blocked_ips,
                        r.accounts,
                    )
                ),
            )
            for r in response.regions
        ]
        headers = ("Region", "General", "Free", "Assigned", "Draining", "Quarantined", "Blocked", "Accounts")
        print(output.table(headers, rows, right=range(1, 8)) if rows else "(no regions: add IPs first)")
        return 0

    return client.run(args, body)
