"""The stored policy row (percentages, as users set them) as the policy's ``Policy``
(fractions, as the rules compute with them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workers.policy import Policy, policy_from_mapping

#: Stored percent column -> Policy rate field.
PERCENT_FIELDS = {
    "hold_bounce_percent": "hold_bounce_rate",
    "hold_complaint_percent": "hold_complaint_rate",
    "hold_deferral_percent": "hold_deferral_rate",
    "step_back_bounce_percent": "step_back_bounce_rate",
    "step_back_complaint_percent": "step_back_complaint_rate",
}
#: Columns of the policy table that are not settings.
BOOKKEEPING = ("singleton", "updated_by", "updated_at")


def policy_from_row(row: Mapping[str, Any]) -> Policy:
    values: dict[str, Any] = {}
    for column, value in row.items():
        if column in BOOKKEEPING:
            continue
        if column in PERCENT_FIELDS:
            values[PERCENT_FIELDS[column]] = float(value) / 100.0
        else:
            values[column] = value
    return policy_from_mapping(values)
