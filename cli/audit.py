"""`sendingip audit [ACCOUNT]`: the audit log (ListAuditEvents), newest first.

``--since`` takes a day (``2026-03-01``, from 00:00 UTC) or an RFC 3339 time
(``2026-03-01T12:00:00Z``); ``--kind`` may be given more than once. The server checks
both and says what it accepts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cli import client, output
from sendingip.v1 import management_pb2
from store.audit import KINDS

#: Events shown unless ``--limit`` says otherwise.
DEFAULT_LIMIT = 50
#: Addresses an event's row names (the rest are counted).
SHOWN_ADDRESSES = 3
#: Characters of a value shown in the Change column.
SHOWN_VALUE = 40


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="the audit log: admin calls and the rebalancer's and breaker's decisions, newest first",
        description="Kinds: " + ", ".join(KINDS),
    )
    parser.add_argument("account", metavar="ACCOUNT", nargs="?", default="", help="only this account's events")
    parser.add_argument("--since", default="", help="from this day (YYYY-MM-DD, UTC) or RFC 3339 time on")
    parser.add_argument("--kind", action="append", default=[], help="only this kind (repeatable)")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"at most this many (default {DEFAULT_LIMIT})")
    parser.add_argument("--page-size", type=int, default=500, help=argparse.SUPPRESS)
    client.add_client_options(parser)
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    if args.limit < 1:
        print(f"error: --limit must be at least 1, got {args.limit}", file=sys.stderr)
        return 2

    def body(c: client.Client) -> int:
        events: list[management_pb2.AuditEvent] = []
        token = ""
        while len(events) < args.limit:
            response = c.call(
                c.management.ListAuditEvents,
                management_pb2.ListAuditEventsRequest(
                    account_id=args.account,
                    since=args.since,
                    kinds=args.kind,
                    page_size=min(args.page_size, args.limit - len(events)),
                    page_token=token,
                ),
            )
            events.extend(response.events)
            token = response.next_page_token
            if not token:
                break
        if args.json:
            output.print_json([output.to_dict(e) for e in events])
            return 0
        print(event_table(events) if events else "(no events)")
        return 0

    return client.run(args, body)


def event_table(events: Sequence[management_pb2.AuditEvent]) -> str:
    rows = [
        (
            datetime.fromisoformat(e.at).strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.kind,
            e.account_id or "-",
            _addresses(e.addresses),
            change(e.before, e.after),
            e.reason,
        )
        for e in events
    ]
    return output.table(("At (UTC)", "Actor", "Kind", "Account", "Addresses", "Change", "Reason"), rows)


def _addresses(addresses: Sequence[str]) -> str:
    if not addresses:
        return "-"
    shown = ", ".join(addresses[:SHOWN_ADDRESSES])
    more = len(addresses) - SHOWN_ADDRESSES
    return f"{shown} +{more}" if more > 0 else shown


def change(before: str, after: str) -> str:
    """``key old→new`` for each value that differs, ``key=value`` for one only ``after`` has."""
    old: Mapping[str, Any] = json.loads(before) if before else {}
    new: Mapping[str, Any] = json.loads(after) if after else {}
    parts = []
    for key in dict.fromkeys([*old, *new]):
        if key in old and key in new:
            if old[key] != new[key]:
                parts.append(f"{key} {_short(old[key])}→{_short(new[key])}")
        elif key in new:
            parts.append(f"{key}={_short(new[key])}")
        else:
            parts.append(f"{key} {_short(old[key])}→-")
    return "; ".join(parts) or "-"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= SHOWN_VALUE else text[: SHOWN_VALUE - 1] + "…"
