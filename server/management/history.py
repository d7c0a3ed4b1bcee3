"""ImportHistory: set the imported volume of (day, account, IP, provider) keys."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date

import asyncpg

from sendingip.v1 import types_pb2
from server.management import validation
from server.management.errors import InvalidArgument
from store import queries

#: Rows per call; the CLI sends 5,000 at a time. Bounded by the gRPC message size too.
MAX_ROWS_PER_CALL = 100_000
_MAX_COUNT = 2**62  # far above any daily volume; keeps sums of 30 days inside bigint


def parse_volumes(
    volumes: Sequence[types_pb2.DailyVolume], providers: Collection[str]
) -> dict[tuple[date, str, str, str], int]:
    """Every row validated (the error names the row and the field); a key given twice
    keeps its last count, as two imports of it in a row would. ``providers`` are the
    policy's mailbox providers: history for another would never be used."""
    if not volumes:
        raise InvalidArgument("volumes must hold at least one row")
    if len(volumes) > MAX_ROWS_PER_CALL:
        raise InvalidArgument(f"volumes: at most {MAX_ROWS_PER_CALL} rows per call, got {len(volumes)}")
    rows: dict[tuple[date, str, str, str], int] = {}
    for i, v in enumerate(volumes):
        field = f"volumes[{i}]"
        account = validation.account_id(v.account_id, f"{field}.account_id")
        day = validation.day(v.day, f"{field}.day")
        provider = validation.provider(v.mailbox_provider, f"{field}.mailbox_provider")
        if provider not in providers:
            raise InvalidArgument(
                f"{field}.mailbox_provider {provider!r} is not one of the policy's providers "
                f"({', '.join(providers)}); history for other receivers goes under 'other'"
            )
        ip = str(validation.ip(v.ip, f"{field}.ip")) if v.ip else ""
        if not 0 <= v.count <= _MAX_COUNT:
            raise InvalidArgument(f"{field}.count must be >= 0, got {v.count}")
        rows[(day, account, ip, provider)] = v.count
    return rows


async def import_history(conn: asyncpg.Connection, volumes: Sequence[types_pb2.DailyVolume]) -> int:
    """Validate every row, then write them in one statement; the number of keys written."""
    providers = await conn.fetchval(queries.load()["mgmt_mailbox_providers"])
    rows = parse_volumes(volumes, providers)
    keys = list(rows)
    await conn.execute(
        queries.load()["mgmt_import_history"],
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [k[3] for k in keys],
        list(rows.values()),
    )
    return len(keys)
