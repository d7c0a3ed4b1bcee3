"""Pages from templates (``server/console/templates``, Jinja2, autoescaped), and the
labels and number formats they show: the same words as ``sendingip status`` (SPEC §1's
table), from ``store.labels`` through the protos' numbers."""

from __future__ import annotations

from typing import Any

import jinja2

from sendingip.v1 import types_pb2
from server import account_facts
from server.proto_enums import IP_STATUS_TO_PROTO, MANAGEMENT_TYPE_TO_PROTO, POOL_TYPE_TO_PROTO
from store import labels
from store.accounts import ACCOUNT_MODES

MANAGEMENT_TYPES = {MANAGEMENT_TYPE_TO_PROTO[k]: text for k, text in labels.MANAGEMENT_TYPE_LABELS.items()}
POOL_TYPES = {POOL_TYPE_TO_PROTO[k]: text for k, text in labels.POOL_TYPE_LABELS.items()}
IP_STATUSES = {IP_STATUS_TO_PROTO[k]: text for k, text in labels.IP_STATUS_LABELS.items()}
#: The accounts page's type filter: its query value (the stored name) and proto number.
TYPE_FILTER: dict[str, types_pb2.ManagementType] = {
    name: MANAGEMENT_TYPE_TO_PROTO[name] for name in labels.MANAGEMENT_TYPE_LABELS
}
#: What ListIPs's ``state`` filter takes (management.proto InventoryIP.state).
IP_STATES = ("general", "free", "assigned", "draining", "quarantined", "blocked")


def number(value: int) -> str:
    return f"{value:,}"


def percent(value: float) -> str:
    return f"{value:.1f}%"


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("server.console", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(number=number, percent=percent)
_ENV.globals.update(
    MANAGEMENT_TYPES=MANAGEMENT_TYPES,
    POOL_TYPES=POOL_TYPES,
    IP_STATUSES=IP_STATUSES,
    TYPE_FILTER=TYPE_FILTER,
    IP_STATES=IP_STATES,
    ACCOUNT_MODES=ACCOUNT_MODES,
    TRANSITION=types_pb2.MANAGEMENT_TYPE_TRANSITION,
    GENERAL=types_pb2.MANAGEMENT_TYPE_GENERAL,
    SENDING_IP_HEADERS=account_facts.SENDING_IP_HEADERS,
    SENDING_IP_NUMBERS=account_facts.SENDING_IP_NUMBERS,
    account_dates=account_facts.dates,
    dedicated_ips=account_facts.dedicated_ips,
    dedicated_ips_cell=account_facts.dedicated_ips_cell,
)


def page(template: str, **context: Any) -> bytes:
    return _ENV.get_template(template).render(**context).encode()
