"""ListAuditEvents: the audit log (``store/audit.py``), newest first, page by page.

Keyset paging on the event id, newest first: a token holds the last id shown and the
filters it was issued for, so pages neither repeat nor skip an event while new ones are
written (they have higher ids, and show up on a next first page). A scoped key sees the
events of its accounts only: an event that names no account (UpdatePolicy, AddIPs, an
import of several accounts' history) is for unscoped keys.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC

import asyncpg

from sendingip.v1 import management_pb2
from server import validate
from server.management.accounts import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decode_page_token, encode_page_token
from server.management.errors import InvalidArgument
from store import audit


async def list_audit_events(
    conn: asyncpg.Connection,
    request: management_pb2.ListAuditEventsRequest,
    scope: Collection[str] | None,
) -> management_pb2.ListAuditEventsResponse:
    account_id = validate.account_id(request.account_id) if request.account_id else None
    since = validate.since(request.since) if request.since else None
    kinds = sorted(set(request.kinds))
    unknown = [k for k in kinds if not audit.known_kind(k)]
    if unknown:
        raise InvalidArgument(f"kinds: {unknown[0]!r} is not an audit event kind; the kinds: {', '.join(audit.KINDS)}")
    if request.page_size < 0:
        raise InvalidArgument(f"page_size must be >= 0 (0 means {DEFAULT_PAGE_SIZE}), got {request.page_size}")
    size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    filters = [request.account_id, since.isoformat() if since else "", ",".join(kinds)]
    before_id = _token_id(decode_page_token(request.page_token, filters)) if request.page_token else None
    rows = await audit.page(
        conn,
        account_id=account_id,
        since=since,
        kinds=kinds,
        scope=None if scope is None else sorted(scope),
        before_id=before_id,
        limit=size + 1,
    )
    events = [_message(e) for e in rows[:size]]
    token = encode_page_token(str(events[-1].id), filters) if len(rows) > size else ""
    return management_pb2.ListAuditEventsResponse(events=events, next_page_token=token)


def _token_id(after: str) -> int:
    if not after.isdigit():
        raise InvalidArgument("page_token is not a token this server issued; start again without it")
    return int(after)


def _message(e: audit.StoredEvent) -> management_pb2.AuditEvent:
    return management_pb2.AuditEvent(
        id=e.id,
        at=e.at.astimezone(UTC).isoformat(),
        actor=e.actor,
        kind=e.kind,
        account_id=e.account_id or "",
        addresses=e.addresses,
        before="" if e.before is None else json.dumps(e.before, sort_keys=True),
        after="" if e.after is None else json.dumps(e.after, sort_keys=True),
        reason=e.reason,
    )
