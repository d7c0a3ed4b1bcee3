"""The audit log (SPEC §3 v2 ``AuditEvent``): who changed what, and why.

An event is written by ``record`` in the transaction of the change it records, so the log
never says something happened that was rolled back, and never misses what committed.
``actor`` is the API key's id for an admin call, ``rebalancer`` for a run's decision,
``router`` for the same-day breaker (rule 11) and ``cli:<user>`` for a ``sendingip keys``
command (it works on the database, with no key).

``KINDS`` is the one list of kinds: ``record`` refuses any other (a typo would make
events that no ``kinds`` filter can find), and ``ListAuditEvents`` validates its filter
against it. An admin call's kind is the call's name; the others are snake_case.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from store import queries

#: The actors that are not API keys.
REBALANCER = "rebalancer"
ROUTER = "router"
#: The prefix of a ``sendingip keys`` command's actor (``cli:root``).
CLI_PREFIX = "cli:"

#: Admin calls (actor: the key id), by the call's name.
ADMIN_KINDS = (
    "CreateAccount",
    "DeleteAccount",
    "SetAccountMode",
    "PauseWarmup",
    "ResumeWarmup",
    "ImportHistory",
    "UpdatePolicy",
    "AddIPs",
    "AssignIPs",
    "BlockIPs",
    "UnblockIPs",
    "RemoveIPs",
)
#: ``sendingip keys create|revoke`` (actor ``cli:<user>``).
KEY_KINDS = ("CreateKey", "RevokeKey")
#: The rebalancer's decisions (actor ``rebalancer``).
REBALANCER_KINDS = (
    "transition_started",  # General -> Transition: a dedicated pool was assigned
    "dedicated",  # Transition -> Dedicated
    "back_to_general",  # Transition or Dedicated -> General
    "ip_assigned",  # a free IP into the account's dedicated pool
    "ip_draining",  # an IP stops taking new traffic
    "ip_quarantined",  # a drained IP leaves the pool for quarantine
    "ip_returned",  # a quarantined IP is free again (inventory)
    "ip_removed",  # an IP being removed (RemoveIPs) left the system once drained
    "stage_hold",  # a warming pair's day held its stage (outcomes)
    "stage_step_back",  # a warming pair's day stepped it a stage back (outcomes)
)
#: The same-day breaker (actor ``router``): ``breaker_`` + ``store.breaker.Trip.kind``.
ROUTER_KINDS = ("breaker_hold", "breaker_throttle")
KINDS: tuple[str, ...] = ADMIN_KINDS + KEY_KINDS + REBALANCER_KINDS + ROUTER_KINDS
_KNOWN = frozenset(KINDS)


@dataclass(frozen=True, slots=True)
class Event:
    """One event before it is written: what changed (``record`` adds who and when)."""

    kind: str
    account_id: str | None = None
    addresses: Sequence[str] = ()
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event as the log holds it (``before``/``after`` decoded)."""

    id: int
    at: datetime
    actor: str
    kind: str
    account_id: str | None
    addresses: tuple[str, ...]
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    reason: str


def cli_actor() -> str:
    """The actor of a ``sendingip keys`` command: ``cli:`` and the OS user running it."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        user = f"uid{os.getuid()}"
    return CLI_PREFIX + user


def known_kind(kind: str) -> bool:
    return kind in _KNOWN


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
    """Write one event in ``conn``'s transaction; returns its id. ``ValueError`` for a
    kind not in ``KINDS`` (add it there)."""
    _check(kind)
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


async def record_all(conn: asyncpg.Connection, actor: str, events: Sequence[Event]) -> None:
    """``events`` in ``conn``'s transaction, in order, in one statement."""
    if not events:
        return
    for e in events:
        _check(e.kind)
    await conn.execute(
        queries.load()["audit_record_many"],
        actor,
        [e.kind for e in events],
        [e.account_id for e in events],
        [json.dumps(list(e.addresses)) for e in events],
        [_json(e.before) for e in events],
        [_json(e.after) for e in events],
        [e.reason for e in events],
    )


async def page(
    conn: asyncpg.Connection,
    *,
    account_id: str | None,
    since: datetime | None,
    kinds: Sequence[str],
    scope: Sequence[str] | None,
    before_id: int | None,
    limit: int,
) -> list[StoredEvent]:
    """Up to ``limit`` events, newest first, with an id below ``before_id`` (keyset paging:
    events written meanwhile neither repeat nor push others off a page). ``scope``: only
    these accounts' events (a scoped key's); ``kinds``: only these (empty: all)."""
    rows = await conn.fetch(
        queries.load()["audit_page"],
        account_id,
        since,
        list(kinds) or None,
        None if scope is None else list(scope),
        before_id,
        limit,
    )
    return [
        StoredEvent(
            id=r["id"],
            at=r["at"],
            actor=r["actor"],
            kind=r["kind"],
            account_id=r["account_id"],
            addresses=tuple(r["addresses"]),
            before=_decoded(r["before"]),
            after=_decoded(r["after"]),
            reason=r["reason"],
        )
        for r in rows
    ]


async def prune(conn: asyncpg.Connection, retention_days: int) -> int:
    """Delete the events older than ``retention_days``; how many went."""
    status: str = await conn.execute(queries.load()["audit_prune"], retention_days)
    return int(status.rpartition(" ")[2] or 0)


def _check(kind: str) -> None:
    if kind not in _KNOWN:
        raise ValueError(f"audit kind {kind!r} is not in store.audit.KINDS; add it there")


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def _decoded(value: str | None) -> Mapping[str, Any] | None:
    return None if value is None else json.loads(value)
