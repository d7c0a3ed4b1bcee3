"""Human and JSON output of the client commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from server.proto_enums import IP_STATUS_TO_PROTO, MANAGEMENT_TYPE_TO_PROTO, POOL_TYPE_TO_PROTO
from store import labels

#: ``store.labels`` keyed by the protos' numbers, as the responses carry them.
MANAGEMENT_TYPE_LABELS = {MANAGEMENT_TYPE_TO_PROTO[k]: text for k, text in labels.MANAGEMENT_TYPE_LABELS.items()}
POOL_TYPE_LABELS = {POOL_TYPE_TO_PROTO[k]: text for k, text in labels.POOL_TYPE_LABELS.items()}
IP_STATUS_LABELS = {IP_STATUS_TO_PROTO[k]: text for k, text in labels.IP_STATUS_LABELS.items()}


def to_dict(message: Message) -> dict[str, Any]:
    """Every field (defaults included) with proto names; 64-bit integers stay numbers
    (``json_format`` would make them strings) and enums are their names."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.has_presence and not message.HasField(field.name):
            out[field.name] = None
        elif field.is_repeated:
            out[field.name] = [_value(field, v) for v in value]
        else:
            out[field.name] = _value(field, value)
    return out


def _value(field: Any, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return to_dict(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        names = field.enum_type.values_by_number
        return names[value].name if value in names else value
    return value


def print_json(value: Any, out: TextIO | None = None) -> None:
    json.dump(value, out or sys.stdout, indent=2)
    (out or sys.stdout).write("\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """A plain text table; columns in ``right`` are right-aligned (numbers)."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def number(value: int) -> str:
    return f"{value:,}"


def percent(value: float) -> str:
    return f"{value:.1f}%"
