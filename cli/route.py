"""`sendingip route ACCOUNT MESSAGE_ID RECIPIENT_DOMAIN`: ask the router for a source IP
(SelectSendingIP), as an MTA would. Needs a key with the `route` permission."""

from __future__ import annotations

import argparse
from typing import Any

from cli import client, output
from sendingip.v1 import router_pb2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("route", help="pick the sending IP for one message, as an MTA would")
    parser.add_argument("account", metavar="ACCOUNT")
    parser.add_argument("message_id", metavar="MESSAGE_ID")
    parser.add_argument("recipient_domain", metavar="RECIPIENT_DOMAIN")
    parser.add_argument("--provider", default="", help="mailbox provider, instead of classifying the domain")
    parser.add_argument("--region", default="", help="for an account the system does not know yet")
    parser.add_argument("--retry", action="store_true", help="a retry: same answer, not counted again")
    client.add_client_options(parser)
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    def body(c: client.Client) -> int:
        response = c.call(
            c.router.SelectSendingIP,
            router_pb2.SelectSendingIPRequest(
                account_id=args.account,
                message_id=args.message_id,
                recipient_domain=args.recipient_domain,
                mailbox_provider=args.provider,
                region=args.region,
                retry=args.retry,
            ),
        )
        if args.json:
            output.print_json(output.to_dict(response))
        else:
            pool_type = output.POOL_TYPE_LABELS.get(response.pool_type, "-")
            kind = output.MANAGEMENT_TYPE_LABELS.get(response.management_type, "-")
            overflow = "  (overflow: a warming IP had reached its daily limit)" if response.overflow else ""
            print(
                f"{response.ip}  pool {response.pool_id} ({pool_type})  provider {response.mailbox_provider}"
                f"  account {kind}  routing version {response.routing_version}{overflow}"
            )
        return 0

    return client.run(args, body)
