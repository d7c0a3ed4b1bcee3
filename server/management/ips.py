"""IP addresses: add them to a region, and the account's Sending IP Addresses table."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import asyncpg

from sendingip.v1 import management_pb2, types_pb2
from server import validate
from server.management import accounts
from server.management.errors import AlreadyExists, InvalidArgument
from server.proto_enums import IP_STATUS_TO_PROTO
from store import audit, queries, routing_store
from store.account_figures import AccountFigures
from store.general_pool import general_weights, warmup_percent

#: ``ip_addresses.state`` an added address gets, per purpose.
_STATE_FOR_PURPOSE = {
    types_pb2.IP_PURPOSE_GENERAL_POOL: "general",
    types_pb2.IP_PURPOSE_INVENTORY: "inventory",
}
#: States an address added as inventory may have moved on to: re-adding it is a no-op.
_INVENTORY_LIFECYCLE = frozenset({"inventory", "dedicated", "draining", "quarantine"})

MAX_ADDRESSES_PER_CALL = 65_536


@dataclass(frozen=True, slots=True)
class AddedIPs:
    added: int
    already_present: int


async def add_ips(
    conn: asyncpg.Connection,
    region: str,
    addresses: Sequence[str],
    purpose: types_pb2.IpPurpose,
    hostnames: Sequence[str] = (),
    *,
    actor: str = "",
) -> AddedIPs:
    """Add addresses to ``region`` (created with its general pool if new), all or none.

    Idempotent: an address already in the region for the same purpose counts as
    ``already_present``. One in another region, or in this region for the other
    purpose, is ALREADY_EXISTS and nothing is added. Adding to the general pool
    publishes the region's routing entry in the same transaction. ``hostnames`` (v2):
    none, or one per address ('' for none); a hostname given for an address already
    present replaces its own. With an ``actor``, an audit event records the call.
    """
    validate.region(region)
    state = _STATE_FOR_PURPOSE.get(purpose)
    if state is None:
        raise InvalidArgument("purpose must be IP_PURPOSE_GENERAL_POOL or IP_PURPOSE_INVENTORY")
    if not addresses:
        raise InvalidArgument("addresses must name at least one IP address")
    if len(addresses) > MAX_ADDRESSES_PER_CALL:
        raise InvalidArgument(f"addresses: at most {MAX_ADDRESSES_PER_CALL} per call, got {len(addresses)}")
    names = _hostnames(addresses, hostnames)
    wanted = list(names)
    texts = [str(a) for a in wanted]
    q = queries.load()
    async with conn.transaction():
        await conn.execute(q["mgmt_ensure_region"], region)
        await conn.execute(q["mgmt_ensure_general_pool"], region)
        inserted = await conn.fetch(q["mgmt_insert_ips"], texts, region, state, list(names.values()))
        added = {ipaddress.ip_address(r["address"]) for r in inserted}
        rest = [str(a) for a in wanted if a not in added]
        present = 0
        if rest:
            for row in await conn.fetch(q["mgmt_existing_ips"], rest):
                if row["region"] == region and (
                    row["state"] == state or (state == "inventory" and row["state"] in _INVENTORY_LIFECYCLE)
                ):
                    present += 1
                    continue
                where = "the general pool" if row["state"] == "general" else f"state {row['state']}"
                raise AlreadyExists(
                    f"address {row['address']} is already in region {row['region']!r} ({where}); "
                    f"it cannot be added to region {region!r} as {state}"
                )
        renamed = [(str(a), names[a]) for a in wanted if a not in added and names[a]]
        if renamed:
            await conn.execute(q["mgmt_set_hostnames"], [a for a, _ in renamed], [h for _, h in renamed])
        if added and state == "general":
            await routing_store.publish_general_pool(conn, region)
        if actor and (added or renamed):
            changed = [a for a in wanted if a in added or names[a]]
            await audit.record(
                conn,
                actor=actor,
                kind="AddIPs",
                addresses=[str(a) for a in changed],
                # Every hostname the call set: of the addresses it added and of those present.
                after={"region": region, "state": state, "hostnames": {str(a): names[a] for a in changed if names[a]}},
                reason=f"added {len(added)} to region {region} as {state}; hostnames set on {len(renamed)} present",
            )
    return AddedIPs(added=len(added), already_present=present)


def _hostnames(addresses: Sequence[str], hostnames: Sequence[str]) -> dict[validate.IPAddress, str]:
    """Each distinct address with its hostname ('' for none), in the order given."""
    if hostnames and len(hostnames) != len(addresses):
        raise InvalidArgument(
            f"hostnames: give none or one per address ('' for none): {len(hostnames)} for {len(addresses)} addresses"
        )
    names: dict[validate.IPAddress, str] = {}
    for i, a in enumerate(addresses):
        address = validate.ip_address(a, f"addresses[{i}]")
        name = validate.hostname(hostnames[i], f"hostnames[{i}]") if hostnames and hostnames[i] else ""
        if names.get(address, name) != name:
            raise InvalidArgument(f"addresses[{i}]: {address} is given twice with different hostnames")
        names[address] = name
    return names


async def list_sending_ips(
    conn: asyncpg.Connection, account_id: str, today: date
) -> management_pb2.ListSendingIPsResponse:
    """The seed's Sending IP Addresses table for ``account_id`` on ``today`` (UTC).

    Dedicated IPs: Draining when recovered, else the rebalancer's status (In Progress
    while a pair of a provider that carries the account's traffic is still warming);
    before the first rebalance, In Progress while any pair is below the end of its
    provider's schedule. General pool IPs are listed while the account sends through the
    shared pool (General and Transition), each with its part of the share the dedicated
    pool does not take (equal, or by weight while one ramps in) and In Progress while it
    ramps in (rule 12), else Active.
    Warm-up %, share and limit come from the rebalancer's figures for the account.
    """
    q = queries.load()
    row = await accounts.account_row(conn, account_id)
    account = accounts.account_message(row)
    figures = AccountFigures.from_json(row["figures"])
    ips: list[types_pb2.SendingIP] = []
    for r in await conn.fetch(q["mgmt_dedicated_ips"], account_id, today):
        ip_figures = figures.ip(r["address"])
        if r["state"] == "draining":
            status = "draining"
        elif ip_figures.status in IP_STATUS_TO_PROTO:
            status = ip_figures.status  # the rebalancer's, from the providers that carry traffic
        elif r["pairs"] == 0 or r["warming"] > 0:
            status = "in_progress"
        else:
            status = "active"
        ips.append(
            types_pb2.SendingIP(
                address=r["address"],
                region=r["region"],
                pool_id=r["pool_id"],
                pool_type=types_pb2.POOL_TYPE_DEDICATED,
                status=IP_STATUS_TO_PROTO[status],
                warmup_percent=100.0 if status == "active" else ip_figures.warmup_percent,
                traffic_share_percent=0.0 if status == "draining" else ip_figures.traffic_share_percent,
                daily_limit=accounts.int64(ip_figures.daily_limit),
                sent_today=r["sent_today"],
                assigned_on=r["assigned_on"].isoformat(),
            )
        )
    if row["management_type"] != "dedicated":
        dedicated_share = account.dedicated_share_percent if row["management_type"] == "transition" else 0.0
        general = await conn.fetch(q["mgmt_general_ips"], account_id, row["region"], today)
        ips.extend(_general_ips(general, max(0.0, 100.0 - dedicated_share)))
    return management_pb2.ListSendingIPsResponse(account=account, ips=ips)


def _general_ips(rows: Sequence[asyncpg.Record], shared_percent: float) -> list[types_pb2.SendingIP]:
    """The general pool's IPs, each with its part of ``shared_percent``: equal, or by its
    ramp-in weight while an IP is ramping in; In Progress until warm (rule 12, v2)."""
    if not rows:
        return []
    schedule = list(rows[0]["schedule"] or ())
    rules = rows[0]["rules"] or "v2"
    weights = general_weights([r["stage"] for r in rows], schedule, rules) or (1.0 / len(rows),) * len(rows)
    found = []
    for r, weight in zip(rows, weights, strict=True):
        warming = rules != "v1" and r["stage"] is not None and r["stage"] < len(schedule)
        found.append(
            types_pb2.SendingIP(
                address=r["address"],
                region=r["region"],
                pool_id=r["pool_id"],
                pool_type=types_pb2.POOL_TYPE_GENERAL,
                status=types_pb2.IP_STATUS_IN_PROGRESS if warming else types_pb2.IP_STATUS_ACTIVE,
                warmup_percent=warmup_percent(r["stage"], schedule) if warming else 100.0,
                traffic_share_percent=shared_percent * weight,
                daily_limit=0,
                sent_today=r["sent_today"],
                assigned_on="",
            )
        )
    return found
