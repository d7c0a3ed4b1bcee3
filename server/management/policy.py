"""GetPolicy / UpdatePolicy: the one policy row, validated and audited.

An update changes only the fields it sets. It is checked by the policy's own
``Policy.validate`` (store/policy_limits.py: the limits the rebalancer and the
simulator apply too), in the API's words (``policy.hold_bounce_percent must be a
percentage in (0, 100]``), and again by the table's CHECKs. It is written with an audit
row saying who (the API key id) and when, in one transaction. The rebalancer reads the
row at its next run: that is when a change takes effect.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import asyncpg

from sendingip.v1 import types_pb2
from server.management.errors import InvalidArgument
from store import queries
from store.policy_columns import COLUMNS, policy_from_columns

#: The repeated fields of the ``Policy`` proto: an empty list in an update means unchanged.
LIST_COLUMNS = frozenset(name for name in COLUMNS if types_pb2.Policy.DESCRIPTOR.fields_by_name[name].is_repeated)


def policy_message(row: Mapping[str, Any]) -> types_pb2.Policy:
    return types_pb2.Policy(**_values(row), updated_by=row["updated_by"], updated_at=row["updated_at"].isoformat())


def _values(row: Mapping[str, Any]) -> dict[str, Any]:
    """The policy columns of a row, arrays as lists."""
    return {name: list(row[name]) if name in LIST_COLUMNS else row[name] for name in COLUMNS}


def merged(current: Mapping[str, Any], update: types_pb2.Policy) -> dict[str, Any]:
    """``current`` with the fields ``update`` sets; not validated."""
    values = _values(current)
    for name in COLUMNS:
        if name in LIST_COLUMNS:
            if getattr(update, name):
                values[name] = list(getattr(update, name))
        elif update.HasField(name):
            values[name] = getattr(update, name)
    return values


def validate(values: Mapping[str, Any]) -> None:
    """Raise ``InvalidArgument`` naming the first field that breaks a limit."""
    try:
        policy_from_columns(values, prefix="policy.")
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None


async def get_policy(conn: asyncpg.Connection) -> types_pb2.Policy:
    return policy_message(await conn.fetchrow(queries.load()["mgmt_policy"]))


async def update_policy(conn: asyncpg.Connection, update: types_pb2.Policy, changed_by: str) -> types_pb2.Policy:
    q = queries.load()
    async with conn.transaction():
        current = await conn.fetchrow(q["mgmt_policy_for_update"])
        values = merged(current, update)
        old = _values(current)
        if values == old:
            return policy_message(current)  # nothing changes: no audit row
        validate(values)
        # The parameters in COLUMNS order, then the key id (the SQL's comment says so).
        row = await conn.fetchrow(q["mgmt_policy_update"], *(values[name] for name in COLUMNS), changed_by)
        await conn.execute(q["mgmt_policy_audit"], changed_by, json.dumps(old), json.dumps(values))
    return policy_message(row)
