"""The audit log (SPEC §3 v2 ``AuditEvent``): who changed what, and why.

An event is written by ``record`` in the transaction of the change it records, so the log
never says something happened that was rolled back, and never misses what committed.
``actor`` is the API key's id for an admin call, ``rebalancer`` for a run's decision and
``router`` for the same-day breaker (rule 11).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from store import queries

#: The actors that are not API keys.
REBALANCER = "rebalancer"
ROUTER = "router"


async def record(
    conn: asyncpg.Connection,
    *,
    actor: str,
    kind: str,
    account_id: str | None = None,
    addresses: Sequence[str] = (),
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str = "",
) -> int:
    """Write one event in ``conn``'s transaction; returns its id."""
    event_id: int = await conn.fetchval(
        queries.load()["audit_record"],
        actor,
        kind,
        account_id,
        list(addresses),
        _json(before),
        _json(after),
        reason,
    )
    return event_id


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)
