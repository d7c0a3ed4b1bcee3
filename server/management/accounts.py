"""Accounts: read one, list them page by page, create one."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg

from sendingip.v1 import types_pb2
from server import validate
from server.management.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from server.proto_enums import MANAGEMENT_TYPE_TO_PROTO, PROTO_TO_MANAGEMENT_TYPE
from store import audit, breaker, queries, routing_store
from store.account_figures import AccountFigures

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
_INT64_MAX = 2**63 - 1
_INT32_MAX = 2**31 - 1


def int64(n: int) -> int:
    """``n`` as an int64 field holds it. The rebalancer's figures are Python ints, sums of
    stored counts: however large they grow, a status call must answer, never fail."""
    return min(n, _INT64_MAX)


def int32(n: int) -> int:
    return min(n, _INT32_MAX)


def account_message(row: Mapping[str, Any]) -> types_pb2.Account:
    """An ``Account`` from a ``mgmt_account`` row; figures the rebalancer has not written read 0."""
    figures = AccountFigures.from_json(row["figures"])
    started, dedicated = row["transition_started_on"], row["dedicated_on"]
    return types_pb2.Account(
        account_id=row["account_id"],
        region=row["region"],
        management_type=MANAGEMENT_TYPE_TO_PROTO[row["management_type"]],
        transition_started_on=started.isoformat() if started else "",
        dedicated_on=dedicated.isoformat() if dedicated else "",
        transition_progress_percent=figures.transition_progress_percent,
        dedicated_share_percent=figures.dedicated_share_percent,
        volume_30d=int64(figures.volume_30d),
        peak_daily_volume_30d=int64(figures.peak_daily_volume_30d),
        active_days_30d=int32(figures.active_days_30d),
        required_ips=int32(figures.required_ips),
        dedicated_ip_count=row["dedicated_ip_count"],
        warmup_paused=row["warmup_paused"],
        mode=row["mode"],
        reason=_with_rests(row["reason"], row["rests"]),
    )


def _with_rests(reason: str, rests: str | None) -> str:
    """The rebalancer's ``reason``, after the pairs the same-day breaker rests now (rule 11):
    they change today's routing, the rest was decided at the last run."""
    if not rests:
        return reason
    clauses = [
        breaker.describe(r["ip"], r["provider"], r["kind"], datetime.fromisoformat(r["until"]), r["reason"])
        for r in json.loads(rests)
    ]
    return "; ".join([*clauses, reason] if reason else clauses)


async def account_row(conn: asyncpg.Connection, account_id: str) -> asyncpg.Record:
    validate.account_id(account_id)
    row = await conn.fetchrow(queries.load()["mgmt_account"], account_id)
    if row is None:
        raise NotFound(f"account {account_id!r} not found")
    return row


async def get_account(conn: asyncpg.Connection, account_id: str) -> types_pb2.Account:
    return account_message(await account_row(conn, account_id))


async def list_accounts(
    conn: asyncpg.Connection,
    *,
    region: str,
    management_type: types_pb2.ManagementType,
    page_size: int,
    page_token: str,
    scope: Collection[str] | None,
) -> tuple[list[types_pb2.Account], str]:
    """One page ordered by account id, and the token of the next ('' after the last).

    Keyset pagination: a token holds the last id shown, so pages neither repeat nor skip
    an account while others are created. ``scope`` limits the list to a key's accounts.
    """
    if region:
        validate.region(region)
    if management_type != types_pb2.MANAGEMENT_TYPE_UNSPECIFIED and management_type not in PROTO_TO_MANAGEMENT_TYPE:
        raise InvalidArgument(f"management_type {management_type} is not a known ManagementType")
    type_name = PROTO_TO_MANAGEMENT_TYPE.get(management_type, "")
    if page_size < 0:
        raise InvalidArgument(f"page_size must be >= 0 (0 means {DEFAULT_PAGE_SIZE}), got {page_size}")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    filters = [region, type_name]
    after = decode_page_token(page_token, filters) if page_token else ""
    rows = await conn.fetch(
        queries.load()["mgmt_list_accounts"],
        region,
        type_name,
        None if scope is None else sorted(scope),
        after,
        size + 1,
    )
    page = [account_message(r) for r in rows[:size]]
    next_token = encode_page_token(page[-1].account_id, filters) if len(rows) > size else ""
    return page, next_token


def encode_page_token(after: str, filters: list[str]) -> str:
    raw = json.dumps({"v": 1, "after": after, "filters": filters}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(token: str, filters: list[str]) -> str:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after = raw["after"]
        issued_for = raw["filters"]
        if raw["v"] != 1 or not isinstance(after, str):
            raise ValueError
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidArgument("page_token is not a token this server issued; start again without it") from None
    if issued_for != filters:
        raise InvalidArgument("page_token was issued for other filters; keep the filters of the first page")
    return after


async def create_account(conn: asyncpg.Connection, account_id: str, region: str) -> tuple[types_pb2.Account, bool]:
    """Create the account in an existing region; the account and whether it is new.

    The region must exist (FAILED_PRECONDITION otherwise): regions are made by adding
    their IPs, so an account never lands in a region without a general pool. Creating an
    account that exists in the same region is a no-op; in another region ALREADY_EXISTS.
    A deleted account (``account_delete``) is created again in its own region.
    """
    validate.account_id(account_id)
    validate.region(region)
    q = queries.load()
    async with conn.transaction():
        if not await conn.fetchval(q["mgmt_region_exists"], region):
            raise FailedPrecondition(
                f"region {region!r} does not exist; add its IPs first (sendingip ips add --region {region} ...)"
            )
        created = await conn.fetchval(q["mgmt_insert_account"], account_id, region)
        if created is None:  # (v2) a deleted account comes back, General, in its region
            created = await conn.fetchval(q["inv_revive_account"], account_id, region)
        if created is None:
            existing = await conn.fetchval(q["mgmt_account_region"], account_id)
            if existing != region:
                raise AlreadyExists(f"account {account_id!r} already exists in region {existing!r}")
        # Its routing entry, so routers route it in its region from now on (SPEC §3 v2).
        await routing_store.publish_general_accounts(conn, [account_id], datetime.now(UTC).date())
    return await get_account(conn, account_id), created is not None


def created_event(account: types_pb2.Account) -> audit.Event:
    """CreateAccount's audit event (only when it made the account)."""
    return audit.Event(
        "CreateAccount",
        account.account_id,
        after={"region": account.region},
        reason=f"created in region {account.region}",
    )
