"""Field checks shared by the Management calls; each raises ``InvalidArgument`` naming
the field and the rule (SPEC §3). Pure functions."""

from __future__ import annotations

import ipaddress
import re
from datetime import date

from server.management.errors import InvalidArgument

_ACCOUNT_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_PROVIDER = re.compile(r"[a-z0-9_-]{1,32}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def account_id(value: str, field: str = "account_id") -> str:
    if not value:
        raise InvalidArgument(f"{field} is required")
    if not _ACCOUNT_ID.fullmatch(value):
        raise InvalidArgument(f"{field} {value[:140]!r} must be 1-128 characters of A-Z a-z 0-9 . _ : @ -")
    return value


def region(value: str, field: str = "region") -> str:
    if not value:
        raise InvalidArgument(f"{field} is required")
    if not _REGION.fullmatch(value):
        raise InvalidArgument(
            f"{field} {value[:80]!r} must be 1-63 characters of a-z 0-9 and '-', starting with a letter or digit"
        )
    return value


def ip(value: str, field: str) -> IPAddress:
    """One IPv4 or IPv6 address (not a network, not unspecified or multicast)."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise InvalidArgument(f"{field} {value[:80]!r} is not an IPv4 or IPv6 address") from None
    if address.is_unspecified or address.is_multicast:
        raise InvalidArgument(f"{field} {value!r} cannot be a sending address (unspecified or multicast)")
    return address


def day(value: str, field: str) -> date:
    if not _DAY.fullmatch(value):
        raise InvalidArgument(f"{field} {value[:40]!r} must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"{field} {value!r} is not a valid date") from None


def provider(value: str, field: str) -> str:
    name = value.strip().lower()
    if not _PROVIDER.fullmatch(name):
        raise InvalidArgument(
            f"{field} {value[:40]!r} must be a mailbox provider name: 1-32 characters of a-z 0-9 _ - "
            "(e.g. google, microsoft, yahoo, apple, other)"
        )
    return name
