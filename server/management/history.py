"""ImportHistory: set the imported volume of (day, account, IP, provider) keys.

Two bounds keep one admin's import from hurting anyone else (SPEC §3 "Bounds"). A count is
at most 10^9 per row, so that no sum over the history can overflow. And a row may name only
an IP that is or was in the account's dedicated pool or in its region's general pool
(``ip_pool_members`` remembers where an IP was): the routers seed today's warm-up limits
from today's history of each IP, whoever's it is, so a count imported for another
tenant's IP would use up that tenant's day. For the same reason a row for today or later
may name only an IP in the account's pool *now* (an IP the account had last month may be
another tenant's today), and a row's day must be one the system keeps
(``store/history_range.py``): no later than tomorrow (UTC; a day of slack for senders east
of Greenwich), no older than the policy's window plus a margin (the rebalancer would drop it).
Any admin key is bound by this, scoped or not.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date

import asyncpg

from sendingip.v1 import types_pb2
from server import validate
from server.management.errors import InvalidArgument
from store import audit, history_range, queries

#: Rows per call; the CLI sends 5,000 at a time. Bounded by the gRPC message size too.
MAX_ROWS_PER_CALL = 100_000

Key = tuple[date, str, str, str]  # day, account_id, ip, mailbox_provider


@dataclass(slots=True)
class NamedIP:
    """The first row that names an (account, IP) pair, and the first such row for today or later."""

    row: int
    current_row: int | None = None


@dataclass(slots=True)
class Volumes:
    rows: dict[Key, int] = field(default_factory=dict)
    ips: dict[tuple[str, str], NamedIP] = field(default_factory=dict)


def parse_volumes(
    volumes: Sequence[types_pb2.DailyVolume], providers: Collection[str], today: date, window_days: int
) -> Volumes:
    """Every row validated (the error names the row and the field); a key given twice
    keeps its last count, as two imports of it in a row would. ``providers`` are the
    policy's mailbox providers: history for another would never be used; ``window_days``
    its ``history_window_days``, which bounds the days accepted."""
    if not volumes:
        raise InvalidArgument("volumes must hold at least one row")
    if len(volumes) > MAX_ROWS_PER_CALL:
        raise InvalidArgument(f"volumes: at most {MAX_ROWS_PER_CALL} rows per call, got {len(volumes)}")
    accepted = history_range.accepted_days(today, window_days)
    parsed = Volumes()
    for i, v in enumerate(volumes):
        name = f"volumes[{i}]"
        account = validate.account_id(v.account_id, f"{name}.account_id")
        day = validate.day(v.day, f"{name}.day")
        if day not in accepted:
            when = "is in the future" if day > accepted.last else "is older than the history kept"
            raise InvalidArgument(
                f"{name}.day {v.day} {when}: days from {accepted} are accepted (history_window_days "
                f"{window_days} + {history_range.MARGIN_DAYS} days back, up to tomorrow)"
            )
        # History exported from elsewhere may spell a provider "Google ": folded here, at
        # the door, before the one rule every door applies.
        spelled = v.mailbox_provider.strip().lower()
        provider = validate.mailbox_provider(spelled, providers, f"{name}.mailbox_provider")
        ip = validate.ip(v.ip, f"{name}.ip") if v.ip else ""
        parsed.rows[(day, account, ip, provider)] = validate.count(v.count, f"{name}.count")
        if ip:
            named = parsed.ips.setdefault((account, ip), NamedIP(i))
            if day >= today and named.current_row is None:
                named.current_row = i
    return parsed


async def check_pools(conn: asyncpg.Connection, ips: dict[tuple[str, str], NamedIP]) -> None:
    """Each (account, IP) pair named must be allowed (the module's docstring says why);
    the error names the first row that breaks the rule."""
    if not ips:
        return
    pairs = list(ips)
    found = await conn.fetch(queries.load()["mgmt_history_ip_pools"], [a for a, _ in pairs], [ip for _, ip in pairs])
    errors: list[tuple[int, str]] = []
    for r in found:
        named = ips[(r["account_id"], r["ip"])]
        problem = _refusal(r, named)
        if problem is not None:
            errors.append(problem)
    if errors:
        raise InvalidArgument(min(errors)[1])


def _refusal(r: asyncpg.Record, named: NamedIP) -> tuple[int, str] | None:
    account, ip, region = r["account_id"], r["ip"], r["region"]
    if region is None:
        return named.row, (
            f"volumes[{named.row}].ip {ip}: account {account!r} does not exist yet, so no IP is its own; "
            "create the account first (its region says which IPs it may name) or leave ip empty"
        )
    if not r["was_in_pool"]:
        return named.row, (
            f"volumes[{named.row}].ip {ip} is not and never was in account {account!r}'s dedicated pool "
            f"or in the general pool of its region {region!r}; import history through other IPs with ip empty"
        )
    if named.current_row is not None and not r["in_pool_now"]:
        return named.current_row, (
            f"volumes[{named.current_row}].ip {ip} has left account {account!r}'s pools: a row for today "
            "or later may name only an IP in them now (today's count of an IP limits whoever has it); "
            "leave ip empty"
        )
    return None


async def import_history(conn: asyncpg.Connection, volumes: Sequence[types_pb2.DailyVolume], today: date) -> int:
    """Validate every row, then write them in one statement; the number of keys written.
    ``today`` is the server's UTC day."""
    q = queries.load()
    settings = await conn.fetchrow(q["mgmt_history_policy"])
    parsed = parse_volumes(volumes, settings["mailbox_providers"], today, settings["history_window_days"])
    await check_pools(conn, parsed.ips)
    keys = list(parsed.rows)
    await conn.execute(
        q["mgmt_import_history"],
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [k[3] for k in keys],
        list(parsed.rows.values()),
    )
    return len(keys)


#: Accounts and addresses an ImportHistory event names at most (the rest are counted).
AUDITED_NAMES = 20


def imported_event(volumes: Sequence[types_pb2.DailyVolume]) -> audit.Event:
    """One event per ImportHistory call, summarised: rows, days, accounts. It names the
    account when there is one (so its scoped keys see it), none when there are several."""
    accounts = sorted({v.account_id for v in volumes})
    days = sorted({v.day for v in volumes})
    return audit.Event(
        "ImportHistory",
        accounts[0] if len(accounts) == 1 else None,
        addresses=sorted({v.ip for v in volumes if v.ip})[:AUDITED_NAMES],
        after={
            "rows": len(volumes),
            "first_day": days[0],
            "last_day": days[-1],
            "accounts": len(accounts),
            "account_ids": accounts[:AUDITED_NAMES],
            "imported": sum(v.count for v in volumes),
        },
        reason=f"{len(volumes)} rows for {len(accounts)} accounts, {days[0]} to {days[-1]}",
    )
