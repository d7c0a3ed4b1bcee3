"""RemoveIPs, BlockIPs, UnblockIPs and AssignIPs (SPEC §3 v2): an operator changes IPs.

Each call is one transaction, all or none, with its audit events (``store.audit``; one per
account whose IPs it touches, one for the others) and the routing entries it changes, so
routers see the change from the version it publishes on. The functions take ``(conn,
actor, ...)``: the gRPC servicer and the web console call the same ones.

Two calls never both take a region's last general IPs: RemoveIPs and BlockIPs lock the
regions of their addresses (``inv_lock_regions``) before they read anything, and only
then count what would be left. A region with accounts keeps at least one usable general
IP (FAILED_PRECONDITION otherwise): its General accounts and every overflow need one.

Where each kind of IP goes:

- RemoveIPs: free and quarantined IPs are deleted at once (history rows name IPs by text
  and stay). An assigned IP drains like one the rebalancer recovers (no new traffic, its
  account's entry republished without it now) and a general IP leaves the pool entry now
  and waits ``drain_days`` in quarantine; the rebalancer deletes both once drained
  (``worker_remove_drained``).
- BlockIPs: ``blocked_reason`` set; no query that routes or claims an IP uses it. The
  region's general pool entry and the accounts' entries are republished without it; the
  next run replaces a blocked dedicated IP from inventory (the rebalancer does not see it
  in the pool any more). UnblockIPs: a general IP rejoins the pool entry now, a dedicated
  one its account's pool at the next run.
- AssignIPs: free IPs of the account's region join its dedicated pool, at stage 0 of the
  warm-up at the next run like any IP the rebalancer assigns. A General account has no
  pool to join: refused, see ``assign_ips``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import asyncpg

from sendingip.v1 import types_pb2
from server import validate
from server.management import accounts
from server.management.errors import FailedPrecondition, InvalidArgument, NotFound
from store import audit, queries, routing_store
from store.route_edits import without_addresses
from store.routing_entry import AccountRoute

MAX_ADDRESSES_PER_CALL = 65_536
MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class Removed:
    removed: int
    draining: int


@dataclass(frozen=True, slots=True)
class Blocked:
    changed: int
    unchanged: int


def addresses_of(addresses: Sequence[str], field: str = "addresses") -> list[str]:
    """The canonical texts of ``addresses``, each once, in the order given."""
    if not addresses:
        raise InvalidArgument(f"{field} must name at least one IP address")
    if len(addresses) > MAX_ADDRESSES_PER_CALL:
        raise InvalidArgument(f"{field}: at most {MAX_ADDRESSES_PER_CALL} per call, got {len(addresses)}")
    return list(dict.fromkeys(validate.ip(a, f"{field}[{i}]") for i, a in enumerate(addresses)))


async def remove_ips(conn: asyncpg.Connection, actor: str, addresses: Sequence[str], today: date) -> Removed:
    texts = addresses_of(addresses)
    q = queries.load()
    async with conn.transaction():
        rows = await _lock(conn, texts)
        general = [r for r in rows if r["state"] == "general"]
        await _refuse_stranding(conn, [r for r in general if r["blocked_reason"] is None], "remove")
        gone = [r["address"] for r in rows if r["state"] in ("inventory", "quarantine") and not r["removing_since"]]
        assigned = [r for r in rows if r["state"] == "dedicated"]
        await conn.execute(q["inv_delete_ips"], gone)
        await conn.execute(q["inv_drain_dedicated"], [r["address"] for r in assigned], today)
        await conn.execute(q["inv_mark_removing"], [r["address"] for r in rows if r["state"] == "draining"], today)
        await conn.execute(q["inv_drain_general"], [r["address"] for r in general], today)
        await _republish(conn, general, assigned)
        await _audit(conn, actor, "RemoveIPs", rows, lambda r: "removed" if r["address"] in gone else "draining")
    return Removed(removed=len(gone), draining=len(rows) - len(gone))


async def block_ips(conn: asyncpg.Connection, actor: str, addresses: Sequence[str], reason: str) -> Blocked:
    texts = addresses_of(addresses)
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise InvalidArgument(f"reason: required, 1-{MAX_REASON} characters (e.g. 'listed on Spamhaus SBL')")
    async with conn.transaction():
        rows = await _lock(conn, texts)
        fresh = [r for r in rows if r["blocked_reason"] is None]
        await _refuse_stranding(conn, [r for r in fresh if r["state"] == "general"], "block")
        await conn.execute(queries.load()["inv_block"], texts, reason)
        await _republish(
            conn,
            [r for r in fresh if r["state"] == "general"],
            [r for r in fresh if r["state"] in ("dedicated", "draining")],
        )
        await _audit(conn, actor, "BlockIPs", rows, lambda r: "blocked", reason)
    return Blocked(changed=len(fresh), unchanged=len(rows) - len(fresh))


async def unblock_ips(conn: asyncpg.Connection, actor: str, addresses: Sequence[str]) -> Blocked:
    texts = addresses_of(addresses)
    async with conn.transaction():
        rows = await _lock(conn, texts)
        blocked = [r for r in rows if r["blocked_reason"] is not None]
        await conn.execute(queries.load()["inv_unblock"], texts)
        await _republish(conn, [r for r in blocked if r["state"] == "general"], ())
        if blocked:
            await _audit(conn, actor, "UnblockIPs", blocked, lambda r: "unblocked")
    return Blocked(changed=len(blocked), unchanged=len(rows) - len(blocked))


async def assign_ips(
    conn: asyncpg.Connection, actor: str, account_id: str, addresses: Sequence[str], today: date
) -> tuple[types_pb2.Account, int]:
    """Free IPs into the account's dedicated pool; the account and how many joined.

    Only an account in Transition or Dedicated has a pool to join. A General account is
    refused rather than moved to Transition behind the policy's back: the rebalancer
    would take an unwanted pool away again (rule 6), and an operator who wants it
    dedicated says so with its mode (rule 7), which the next run honours.
    """
    validate.account_id(account_id)
    texts = addresses_of(addresses)
    q = queries.load()
    async with conn.transaction():
        account = await conn.fetchrow(q["inv_lock_account"], account_id)
        if account is None:
            raise NotFound(f"account {account_id!r} not found")
        if account["management_type"] == "general" or account["pool_id"] is None:
            raise FailedPrecondition(
                f"account {account_id!r} is General and has no dedicated pool; pin it with "
                f"`sendingip accounts mode {account_id} dedicated` and the next rebalance gives it one "
                "from inventory, then assign more"
            )
        rows = await _lock(conn, texts)
        _refuse_unassignable(rows, account["region"])
        await conn.execute(q["inv_assign"], texts, account["pool_id"], today)
        await audit.record(
            conn,
            actor=actor,
            kind="AssignIPs",
            account_id=account_id,
            addresses=texts,
            before={a: "free" for a in texts},
            after={a: "assigned" for a in texts},
            reason=f"hand-assigned to {account['pool_id']}; they warm up from stage 0 at the next run",
        )
    return await accounts.get_account(conn, account_id), len(texts)


def _refuse_unassignable(rows: Sequence[asyncpg.Record], region: str) -> None:
    for r in rows:
        if r["region"] != region:
            raise FailedPrecondition(
                f"address {r['address']} is in region {r['region']!r}, the account in {region!r}; "
                "assign IPs of the account's region"
            )
        if r["blocked_reason"] is not None:
            raise FailedPrecondition(f"address {r['address']} is blocked ({r['blocked_reason']}); unblock it first")
        if r["state"] != "inventory" or r["removing_since"] is not None:
            raise FailedPrecondition(
                f"address {r['address']} is not free (state {r['state']}); only free inventory IPs can be "
                "assigned (see `sendingip ips list --state free`)"
            )


async def _lock(conn: asyncpg.Connection, texts: list[str]) -> list[asyncpg.Record]:
    """The rows of ``texts``, their regions locked first, then the rows; NOT_FOUND names
    the addresses the system does not hold."""
    q = queries.load()
    regions = [r["region"] for r in await conn.fetch(q["inv_ip_regions"], texts)]
    await conn.fetch(q["inv_lock_regions"], regions)
    rows = await conn.fetch(q["inv_lock_ips"], texts)
    missing = sorted(set(texts) - {r["address"] for r in rows})
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise NotFound(f"addresses not held by the system: {shown}")
    return list(rows)


async def _refuse_stranding(conn: asyncpg.Connection, general: Sequence[asyncpg.Record], verb: str) -> None:
    if not general:
        return
    regions = sorted({r["region"] for r in general})
    stranded = await conn.fetch(queries.load()["inv_stranded_regions"], regions, [r["address"] for r in general])
    if stranded:
        region = stranded[0]["region"]
        raise FailedPrecondition(
            f"cannot {verb} the last usable general IPs of region {region!r}: its accounts would have no "
            f"shared pool; add general IPs first (sendingip ips add --region {region} --general ADDRESS)"
        )


async def _republish(
    conn: asyncpg.Connection, general: Iterable[asyncpg.Record], dedicated: Iterable[asyncpg.Record]
) -> None:
    """The routing entries that named these IPs, without them: the general pool of each
    region, and each account's entry (``store.route_edits``)."""
    for region in sorted({r["region"] for r in general}):
        await routing_store.publish_general_pool(conn, region)
    by_account: dict[str, set[str]] = defaultdict(set)
    for r in dedicated:
        if r["account_id"] is not None:
            by_account[r["account_id"]].add(r["address"])
    if not by_account:
        return
    entries = await conn.fetch(queries.load()["inv_account_entries"], sorted(by_account))
    routes = []
    for e in entries:
        stored = AccountRoute.from_json(e["entry"])
        edited = without_addresses(stored, by_account[e["account_id"]])
        if edited != stored:
            routes.append(edited)
    await routing_store.publish(conn, routes)


async def _audit(
    conn: asyncpg.Connection,
    actor: str,
    kind: str,
    rows: Sequence[asyncpg.Record],
    after: Callable[[asyncpg.Record], str],
    reason: str = "",
) -> None:
    """One event per account whose IPs changed, one for the IPs of no account; ``after``
    gives each IP's new state."""
    groups: dict[str | None, list[asyncpg.Record]] = defaultdict(list)
    for r in rows:
        groups[r["account_id"]].append(r)
    for account_id, group in sorted(groups.items(), key=lambda g: g[0] or ""):
        await audit.record(
            conn,
            actor=actor,
            kind=kind,
            account_id=account_id,
            addresses=[r["address"] for r in group],
            before={r["address"]: r["shown_state"] for r in group},
            after={r["address"]: after(r) for r in group},
            reason=reason,
        )
