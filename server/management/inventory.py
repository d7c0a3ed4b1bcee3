"""ListIPs and ListRegions (SPEC §3 v2): every IP the system holds, and each region's counts.

Both read the view ``ip_inventory`` (migration 0011), the one place that says which state
an IP shows: ``general``, ``free``, ``assigned``, ``draining``, ``quarantined`` or
``blocked``. Pages follow the inet order of addresses (IPv4 before IPv6, numerically), with
a token holding the last address shown, so a page neither repeats nor skips an IP while
others are added or removed.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

import asyncpg

from sendingip.v1 import management_pb2
from server import validate
from server.management.accounts import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decode_page_token, encode_page_token
from server.management.errors import InvalidArgument
from store import queries

#: The states ListIPs shows and filters by.
IP_STATES = ("general", "free", "assigned", "draining", "quarantined", "blocked")


async def list_ips(
    conn: asyncpg.Connection,
    request: management_pb2.ListIPsRequest,
    scope: Collection[str] | None,
) -> management_pb2.ListIPsResponse:
    """One page of IPs; ``scope`` (a key's accounts) limits it to their dedicated pools."""
    if request.region:
        validate.region(request.region)
    if request.state and request.state not in IP_STATES:
        raise InvalidArgument(f"state: {request.state!r} is not one of {', '.join(IP_STATES)}")
    if request.account_id:
        validate.account_id(request.account_id)
    if request.page_size < 0:
        raise InvalidArgument(f"page_size must be >= 0 (0 means {DEFAULT_PAGE_SIZE}), got {request.page_size}")
    size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    filters = [request.region, request.state, request.account_id]
    after = validate.ip(decode_page_token(request.page_token, filters), "page_token") if request.page_token else None
    rows = await conn.fetch(
        queries.load()["inv_list_ips"],
        request.region,
        request.state,
        request.account_id,
        None if scope is None else sorted(scope),
        after,
        size + 1,
    )
    ips = [
        management_pb2.InventoryIP(
            address=r["address"],
            region=r["region"],
            hostname=r["hostname"],
            state=r["shown_state"],
            account_id=r["account_id"],
            pool_id=r["pool_id"],
            since=_day(r["since"]),
            quarantine_until=_day(r["quarantine_until"]),
            blocked_reason=r["blocked_reason"],
        )
        for r in rows[:size]
    ]
    token = encode_page_token(ips[-1].address, filters) if len(rows) > size else ""
    return management_pb2.ListIPsResponse(ips=ips, next_page_token=token)


async def list_regions(conn: asyncpg.Connection) -> management_pb2.ListRegionsResponse:
    rows = await conn.fetch(queries.load()["inv_list_regions"])
    return management_pb2.ListRegionsResponse(
        regions=[
            management_pb2.Region(
                name=r["region"],
                general_ips=r["general_ips"],
                free_ips=r["free_ips"],
                assigned_ips=r["assigned_ips"],
                draining_ips=r["draining_ips"],
                quarantined_ips=r["quarantined_ips"],
                blocked_ips=r["blocked_ips"],
                accounts=r["accounts"],
            )
            for r in rows
        ]
    )


def _day(value: date | None) -> str:
    return value.isoformat() if value is not None else ""
