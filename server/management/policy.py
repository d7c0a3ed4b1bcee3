"""GetPolicy / UpdatePolicy: the one policy row, validated and audited.

An update changes only the fields it sets; ``provider_schedules`` is merged per provider (an
entry sets that provider's schedule, one with no limits removes it), ``account_overrides`` per
account (an entry replaces that account's override, one that sets nothing removes it). It is checked by the policy's own
``Policy.validate`` (store/policy_limits.py: the limits the rebalancer and the
simulator apply too), in the API's words (``policy.hold_bounce_percent must be a
percentage in (0, 100]``), and again by the table's CHECKs. It is written with an audit
row saying who (the API key id) and when, and an audit event with the settings it changed
(before and after), in one transaction. The rebalancer reads the
row at its next run: that is when a change takes effect.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import asyncpg

from sendingip.v1 import types_pb2
from server.management.errors import InvalidArgument
from store import audit, queries
from store.policy_columns import COLUMNS, column_parameters, column_values, policy_from_columns
from store.policy_limits import OVERRIDABLE

#: The repeated fields of the ``Policy`` proto merged by key rather than replaced.
MERGED_COLUMNS = frozenset({"provider_schedules", "account_overrides"})
#: The repeated scalar fields of the ``Policy`` proto: an empty list in an update means unchanged.
LIST_COLUMNS = frozenset(
    name
    for name in COLUMNS
    if types_pb2.Policy.DESCRIPTOR.fields_by_name[name].is_repeated and name not in MERGED_COLUMNS
)


def policy_message(row: Mapping[str, Any]) -> types_pb2.Policy:
    values = column_values(row)
    schedules = values.pop("provider_schedules")
    overrides = values.pop("account_overrides")
    return types_pb2.Policy(
        **values,
        provider_schedules=[
            types_pb2.ProviderSchedule(provider=provider, limits=limits)
            for provider, limits in sorted(schedules.items())
        ],
        account_overrides=[
            types_pb2.AccountOverride(account_id=account_id, **settings)
            for account_id, settings in sorted(overrides.items())
        ],
        updated_by=row["updated_by"],
        updated_at=row["updated_at"].isoformat(),
    )


def scoped(message: types_pb2.Policy, scope: Collection[str] | None) -> types_pb2.Policy:
    """``message`` as a key limited to the accounts of ``scope`` may read it: only their
    ``account_overrides`` (the other accounts' ids are not its to see); all with no scope."""
    if scope is not None:
        kept = [o for o in message.account_overrides if o.account_id in scope]
        del message.account_overrides[:]
        message.account_overrides.extend(kept)
    return message


def merged(current: Mapping[str, Any], update: types_pb2.Policy) -> dict[str, Any]:
    """``current`` (a row) with the fields ``update`` sets; not validated."""
    values = column_values(current)
    for name in COLUMNS:
        if name == "provider_schedules":
            values[name] = _merged_schedules(values[name], update.provider_schedules)
        elif name == "account_overrides":
            values[name] = _merged_overrides(values[name], update.account_overrides)
        elif name in LIST_COLUMNS:
            if getattr(update, name):
                values[name] = list(getattr(update, name))
        elif update.HasField(name):
            values[name] = getattr(update, name)
    return values


def _merged_schedules(
    current: Mapping[str, list[int]], update: Iterable[types_pb2.ProviderSchedule]
) -> dict[str, list[int]]:
    """Each entry of ``update`` sets its provider's schedule; one with no limits removes it."""
    schedules = dict(current)
    for entry in update:
        if entry.limits:
            schedules[entry.provider] = list(entry.limits)
        else:
            schedules.pop(entry.provider, None)
    return dict(sorted(schedules.items()))


def _merged_overrides(
    current: Mapping[str, Mapping[str, int]], update: Iterable[types_pb2.AccountOverride]
) -> dict[str, dict[str, int]]:
    """Each entry of ``update`` replaces its account's override; one that sets nothing removes it."""
    overrides = {account_id: dict(settings) for account_id, settings in current.items()}
    for entry in update:
        settings = {name: getattr(entry, name) for name in OVERRIDABLE if entry.HasField(name)}
        if settings:
            overrides[entry.account_id] = settings
        else:
            overrides.pop(entry.account_id, None)
    return dict(sorted(overrides.items()))


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
        old = column_values(current)
        if values == old:
            return policy_message(current)  # nothing changes: no audit row
        validate(values)
        # The parameters in COLUMNS order, then the key id (the SQL's comment says so).
        row = await conn.fetchrow(q["mgmt_policy_update"], *column_parameters(values), changed_by)
        await conn.execute(q["mgmt_policy_audit"], changed_by, json.dumps(old), json.dumps(values))
        changed = [name for name in COLUMNS if values[name] != old[name]]
        await audit.record(
            conn,
            actor=changed_by,
            kind="UpdatePolicy",
            before={name: old[name] for name in changed},
            after={name: values[name] for name in changed},
            reason="changed " + ", ".join(changed),
        )
    return policy_message(row)
