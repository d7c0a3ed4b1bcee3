"""The policy as the ``policy`` table and the API spell it: rates as percentages.

``Policy`` holds a rate as a fraction (``hold_bounce_rate = 0.05``); the table, the
``Policy`` proto and so UpdatePolicy hold a percentage (``hold_bounce_percent = 5``).
This is the one place that converts, at the edge, before the one ``Policy.validate``.
``COLUMNS`` is derived from the dataclass's fields, in their order: the column list the
Management API reads and the order of ``mgmt_policy_update``'s parameters
(store/queries/management.sql; tests/unit/test_policy_limits.py checks they agree).
``provider_schedules`` (``{"microsoft": [100, 300, ...]}``) and ``account_overrides``
(``{"acme": {"max_ips_per_account": 3}}``) are jsonb columns: asyncpg reads and writes them as
JSON text, and ``column_values``/``column_parameters`` convert them here.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from store.policy_limits import RATE_FIELDS, Wording
from store.policy_settings import POLICY_FIELDS, Policy, policy_from_mapping

#: Policy rate field -> the column (and proto field) holding it as a percentage.
PERCENT_COLUMNS: Mapping[str, str] = {field: field.removesuffix("_rate") + "_percent" for field in RATE_FIELDS}
#: The policy's columns, one per ``Policy`` field, in the dataclass's order.
COLUMNS: tuple[str, ...] = tuple(PERCENT_COLUMNS.get(field, field) for field in POLICY_FIELDS)
#: Columns held as jsonb: JSON text in a row and in the update's parameters.
JSON_COLUMNS: frozenset[str] = frozenset({"provider_schedules", "account_overrides"})
#: Columns held as arrays: lists in ``column_values``.
ARRAY_COLUMNS: frozenset[str] = frozenset({"warmup_schedule", "mailbox_providers"})
#: Errors in the columns' words: ``hold_bounce_percent must be a percentage in (0, 100]``.
PERCENT_WORDING = Wording(rate_suffix="_percent", rate_scale=100.0, rate_range="a percentage in (0, 100]")


def policy_from_columns(values: Mapping[str, Any], prefix: str = "") -> Policy:
    """The validated ``Policy`` of a row or a merged API update (every name in ``COLUMNS``).

    A ``ValueError`` names the column, after ``prefix`` (the API's ``policy.``), and shows
    a rate as the percentage that was given.
    """
    fields: dict[str, Any] = {}
    for field, column in zip(POLICY_FIELDS, COLUMNS, strict=True):
        value = _decoded(column, values[column])
        fields[field] = float(value) / 100.0 if field in PERCENT_COLUMNS else value
    return policy_from_mapping(fields, words=dataclasses.replace(PERCENT_WORDING, prefix=prefix))


def column_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """The policy columns of a row as plain values: arrays as lists, jsonb decoded (JSON-friendly)."""
    return {
        column: list(row[column]) if column in ARRAY_COLUMNS else _decoded(column, row[column]) for column in COLUMNS
    }


def column_parameters(values: Mapping[str, Any]) -> list[Any]:
    """``values`` (``column_values``'s shape) as the update statement's parameters, in ``COLUMNS`` order."""
    return [json.dumps(values[column]) if column in JSON_COLUMNS else values[column] for column in COLUMNS]


def _decoded(column: str, value: Any) -> Any:
    return json.loads(value) if column in JSON_COLUMNS and isinstance(value, str | bytes) else value
