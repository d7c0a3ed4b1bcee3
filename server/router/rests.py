"""The same-day breaker's two halves in the router (SPEC §2 rule 11, ``store/breaker.py``).

Writing: an outcome report is applied in one transaction; ``trip`` runs in it, after the
counts are added. It reads today's totals of the reported pairs that belong to their
account's dedicated pool, trips those the rule says, records each new trip in the audit
log (actor ``router``) and NOTIFYs every router, all in the report's transaction: a report
that rolls back rests nothing.

Reading: every sync of the loader reads the pairs resting now (``active``) and gives the
table the new set (``RoutingTable.set_rests``); a NOTIFY makes that immediate, the poll
bounds it (``poll_interval``, seconds). A resting pair is compiled with a limit of 0: the
pick finds it full and sends its mail where ``store.overflow`` says, at no cost to picks
of pairs that are not resting.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

import asyncpg

from store import audit, breaker, queries
from store.policy_columns import policy_from_columns
from store.reputation import Outcomes

log = logging.getLogger(__name__)

#: (day, account_id, ip, mailbox_provider), as ``server.validate.outcome`` returns it.
Key = tuple[date, str, str, str]
#: account_id → the (address, provider) pairs of its pool resting now.
Rests = dict[str, frozenset[tuple[str, str]]]


async def trip(conn: asyncpg.Connection, throttled: Mapping[Key, int], now: datetime) -> int:
    """Trip the pairs of this report that rule 11 rests; returns how many started resting.

    ``throttled``: each reported key of the report with its throttled count. Call in the
    report's transaction, after its counts are added."""
    today = now.astimezone(UTC).date()
    keys = [k for k in throttled if k[0] == today and k[2]]
    if not keys:
        return 0
    q = queries.load()
    rows = await conn.fetch(
        q["router_breaker_pairs"], today, [k[1] for k in keys], [k[2] for k in keys], [k[3] for k in keys], now
    )
    if not rows:
        return 0  # no reported pair is a dedicated pool's: nothing to rest
    policy = policy_from_columns(await conn.fetchrow(q["worker_policy"]))
    by_pair = {(k[1], k[3], k[2]): n for k, n in throttled.items()}
    started = 0
    for r in rows:
        today_outcomes = Outcomes(r["delivered"], r["deferred"], r["bounced"], r["complained"], r["throttled"])
        # Addresses are canonical on both sides (``server.validate.ip``, PostgreSQL's ``host``).
        reported = by_pair.get((r["account_id"], r["mailbox_provider"], r["ip"]), 0)
        trips = (breaker.same_day_trip(policy, today_outcomes, now), breaker.throttle_trip(policy, reported, now))
        for found in trips:
            if found is not None:
                started += await _rest(conn, r, found, now)
    if started:
        await conn.execute(q["router_rests_notify"])
    return started


async def _rest(conn: asyncpg.Connection, r: asyncpg.Record, found: breaker.Trip, now: datetime) -> int:
    """Store the rest; a pair that was not resting for this kind is a new trip (1), logged
    and audited."""
    await conn.execute(
        queries.load()["router_rest_pair"],
        r["ip"], r["mailbox_provider"], found.kind, r["account_id"], now, found.until, found.reason,
    )  # fmt: skip
    if found.kind in r["resting"]:
        return 0
    log.warning(
        "same-day breaker tripped account=%s ip=%s provider=%s kind=%s until=%s: %s",
        r["account_id"], r["ip"], r["mailbox_provider"], found.kind, found.until.isoformat(), found.reason,
    )  # fmt: skip
    await audit.record(
        conn,
        actor=audit.ROUTER,
        kind="breaker_" + found.kind,
        account_id=r["account_id"],
        addresses=[r["ip"]],
        before={"resting": False},
        after={"resting": True, "provider": r["mailbox_provider"], "until": found.until.isoformat()},
        reason=found.reason,
    )
    return 1


#: (account_id, address, provider, until) of one resting pair.
Rest = tuple[str, str, str, datetime]


async def active(conn: asyncpg.Connection, now: datetime) -> list[Rest]:
    """The pairs resting at ``now``."""
    rows = await conn.fetch(queries.load()["router_active_rests"], now)
    return [(r["account_id"], r["ip"], r["mailbox_provider"], r["until"]) for r in rows]


def resting_at(rests: Sequence[Rest], now: datetime) -> Rests:
    """Of ``rests``, the pairs still resting at ``now``, by account (a router cut off from
    PostgreSQL still ends a throttle pause on time)."""
    pairs: dict[str, set[tuple[str, str]]] = {}
    for account_id, address, provider, until in rests:
        if until > now:
            pairs.setdefault(account_id, set()).add((address, provider))
    return {account: frozenset(found) for account, found in pairs.items()}
