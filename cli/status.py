"""`sendingip status ACCOUNT`: the account's Sending IP Addresses table (ListSendingIPs)."""

from __future__ import annotations

import argparse
from typing import Any

from cli import client, output
from sendingip.v1 import management_pb2, types_pb2
from server import account_facts


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("status", help="an account's Sending IP Addresses table")
    parser.add_argument("account", metavar="ACCOUNT")
    client.add_client_options(parser)
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    def body(c: client.Client) -> int:
        response = c.call(c.management.ListSendingIPs, management_pb2.ListSendingIPsRequest(account_id=args.account))
        if args.json:
            output.print_json(output.to_dict(response))
        else:
            print(render(response))
        return 0

    return client.run(args, body)


def account_header(account: types_pb2.Account) -> str:
    """The lines above the table: where the account is, and why."""
    kind = output.MANAGEMENT_TYPE_LABELS.get(account.management_type, "Unknown")
    lines = [f"Account {account.account_id}  (region {account.region})"]
    first = f"Management type: {kind}"
    if account.management_type == types_pb2.MANAGEMENT_TYPE_TRANSITION:
        first += f"  ·  Transition progress: {output.percent(account.transition_progress_percent)}"
    if account.management_type != types_pb2.MANAGEMENT_TYPE_GENERAL or account.dedicated_share_percent:
        first += f"  ·  Dedicated share: {output.percent(account.dedicated_share_percent)}"
    for label, day in account_facts.dates(account):
        first += f"  ·  {label}: {day}"
    if account.warmup_paused:
        first += "  ·  Warm-up: PAUSED"
    if account.mode and account.mode != "auto":
        first += f"  ·  Mode: {account.mode} (set by an operator)"
    lines.append(first)
    lines.append(
        f"30-day volume: {output.number(account.volume_30d)}"
        f"  ·  Peak day: {output.number(account.peak_daily_volume_30d)}"
        f"  ·  Active days: {account.active_days_30d}"
        f"  ·  Dedicated IPs: {account_facts.dedicated_ips(account)}"
    )
    lines.append(f"Reason: {account.reason or '-'}")
    return "\n".join(lines)


def render(response: management_pb2.ListSendingIPsResponse) -> str:
    rows = [
        (
            ip.address,
            ip.region,
            ip.pool_id,
            output.POOL_TYPE_LABELS.get(ip.pool_type, "-"),
            output.IP_STATUS_LABELS.get(ip.status, "-"),
            output.percent(ip.warmup_percent),
            output.percent(ip.traffic_share_percent),
            output.number(ip.daily_limit) if ip.daily_limit else "-",
            output.number(ip.sent_today),
            ip.assigned_on or "-",
        )
        for ip in response.ips
    ]
    body = (
        output.table(account_facts.SENDING_IP_HEADERS, rows, right=account_facts.SENDING_IP_NUMBERS)
        if rows
        else "(no sending IPs: the region has none yet)"
    )
    return f"{account_header(response.account)}\n\n{body}"
