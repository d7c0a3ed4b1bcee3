"""GetPolicy / UpdatePolicy: the one policy row, validated and audited.

An update changes only the fields it sets, is checked here with messages naming the
field (and again by the table's CHECKs), and is written with an audit row saying who
(the API key id) and when, in one transaction. The rebalancer reads the row at its
next run: that is when a change takes effect.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import asyncpg

from sendingip.v1 import types_pb2
from server.management.errors import InvalidArgument
from store import queries

#: The policy's fields, as the proto and the table name them.
INT_FIELDS = (
    "history_window_days",
    "dedicated_threshold_30d",
    "general_threshold_30d",
    "min_active_days",
    "ip_daily_capacity",
    "max_ips_per_account",
    "scale_in_days",
    "quarantine_days",
    "drain_days",
    "expected_volume_days",
)
LIST_FIELDS = ("warmup_schedule", "mailbox_providers")
PERCENT_FIELDS = (
    "hold_bounce_percent",
    "hold_complaint_percent",
    "hold_deferral_percent",
    "step_back_bounce_percent",
    "step_back_complaint_percent",
)
#: In the order of the table's columns (and of ``mgmt_policy_update``'s parameters).
FIELDS = (
    "history_window_days",
    "dedicated_threshold_30d",
    "general_threshold_30d",
    "min_active_days",
    "ip_daily_capacity",
    "max_ips_per_account",
    "warmup_schedule",
    "scale_in_days",
    "quarantine_days",
    *PERCENT_FIELDS,
    "drain_days",
    "expected_volume_days",
    "mailbox_providers",
)

#: Inclusive lower (and upper, where there is one) bounds of the whole-number fields.
_INT_BOUNDS: Mapping[str, tuple[int, int | None]] = {
    "history_window_days": (1, 365),
    "dedicated_threshold_30d": (1, None),
    "general_threshold_30d": (0, None),
    "min_active_days": (0, 365),
    "ip_daily_capacity": (1, None),
    "max_ips_per_account": (1, 1000),
    "scale_in_days": (1, 365),
    "quarantine_days": (0, 3650),
    "drain_days": (1, 365),
    "expected_volume_days": (1, 365),
}
_PROVIDER = re.compile(r"[a-z0-9_-]{1,32}")
_MAX_STAGES = 365
_BIGINT_MAX = 2**63 - 1


def policy_message(row: Mapping[str, Any]) -> types_pb2.Policy:
    return types_pb2.Policy(**_values(row), updated_by=row["updated_by"], updated_at=row["updated_at"].isoformat())


def _values(row: Mapping[str, Any]) -> dict[str, Any]:
    """The policy fields of a row, arrays as lists."""
    values = {name: row[name] for name in FIELDS}
    for name in LIST_FIELDS:
        values[name] = list(row[name])
    return values


def merged(current: Mapping[str, Any], update: types_pb2.Policy) -> dict[str, Any]:
    """``current`` with the fields ``update`` sets; not validated."""
    values = _values(current)
    for name in (*INT_FIELDS, *PERCENT_FIELDS):
        if update.HasField(name):
            values[name] = getattr(update, name)
    for name in LIST_FIELDS:  # an empty list in an update means unchanged
        if getattr(update, name):
            values[name] = list(getattr(update, name))
    return values


def validate(values: Mapping[str, Any]) -> None:
    """Raise ``InvalidArgument`` naming the first field that breaks a rule."""
    _check_whole_numbers(values)
    _check_schedule(values["warmup_schedule"], values["ip_daily_capacity"])
    _check_percentages(values)
    _check_providers(values["mailbox_providers"])


def _check_whole_numbers(values: Mapping[str, Any]) -> None:
    for name, (low, high) in _INT_BOUNDS.items():
        value = values[name]
        if value < low or (high is not None and value > high) or value > _BIGINT_MAX:
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise InvalidArgument(f"policy.{name} must be {bound}, got {value}")
    if values["general_threshold_30d"] > values["dedicated_threshold_30d"]:
        raise InvalidArgument(
            f"policy.general_threshold_30d ({values['general_threshold_30d']}) must be <= "
            f"dedicated_threshold_30d ({values['dedicated_threshold_30d']}): the gap between them is the hysteresis"
        )
    if values["min_active_days"] > values["history_window_days"]:
        raise InvalidArgument(
            f"policy.min_active_days ({values['min_active_days']}) must be <= "
            f"history_window_days ({values['history_window_days']})"
        )


def _check_schedule(schedule: list[int], capacity: int) -> None:
    if not 1 <= len(schedule) <= _MAX_STAGES:
        raise InvalidArgument(f"policy.warmup_schedule must have 1 to {_MAX_STAGES} stages, got {len(schedule)}")
    for i, limit in enumerate(schedule):
        if limit < 1:
            raise InvalidArgument(f"policy.warmup_schedule[{i}] must be >= 1, got {limit}")
        if i and limit < schedule[i - 1]:
            raise InvalidArgument(
                f"policy.warmup_schedule must not decrease: stage {i} ({limit}) < stage {i - 1} ({schedule[i - 1]})"
            )
        if limit > capacity:
            raise InvalidArgument(f"policy.warmup_schedule[{i}] ({limit}) must be <= ip_daily_capacity ({capacity})")


def _check_percentages(values: Mapping[str, Any]) -> None:
    for name in PERCENT_FIELDS:
        value = values[name]
        if not math.isfinite(value) or not 0 < value <= 100:
            raise InvalidArgument(f"policy.{name} must be a percentage in (0, 100], got {value}")
    for kind in ("bounce", "complaint"):
        hold, back = values[f"hold_{kind}_percent"], values[f"step_back_{kind}_percent"]
        if hold > back:
            raise InvalidArgument(
                f"policy.hold_{kind}_percent ({hold}) must be <= step_back_{kind}_percent ({back}): "
                "a pair is held before it steps back"
            )


def _check_providers(providers: list[str]) -> None:
    for i, name in enumerate(providers):
        if not _PROVIDER.fullmatch(name):
            raise InvalidArgument(f"policy.mailbox_providers[{i}] {name!r} must be 1-32 characters of a-z 0-9 _ -")
    if len(set(providers)) != len(providers):
        raise InvalidArgument("policy.mailbox_providers must not name a provider twice")
    if "other" not in providers:
        raise InvalidArgument("policy.mailbox_providers must include 'other': routes fall back to it")


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
        row = await conn.fetchrow(q["mgmt_policy_update"], *(values[name] for name in FIELDS), changed_by)
        await conn.execute(q["mgmt_policy_audit"], changed_by, json.dumps(old), json.dumps(values))
    return policy_message(row)
