"""Field checks shared by the Management calls; each raises ``InvalidArgument`` naming
the field and the rule (SPEC §3). Pure functions. An address and a count follow the
router's rules (server/router/validate.py), which this module wraps, never restates."""

from __future__ import annotations

import re
from datetime import date

from server.management.errors import InvalidArgument
from server.router import validate
from server.router.validate import IPAddress, RequestError

_ACCOUNT_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_PROVIDER = re.compile(r"[a-z0-9_-]{1,32}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


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
    """A sending address by the router's rule (``server.router.validate.ip_address``), so
    that AddIPs, ImportHistory and ReportOutcomes accept exactly the same addresses."""
    try:
        return validate.ip_address(value, field)
    except RequestError as exc:
        raise InvalidArgument(str(exc)) from None


def count(value: int, field: str) -> int:
    """A count by the router's rule (``server.router.validate.count``): 0 to 10^9."""
    try:
        return validate.count(value, field)
    except RequestError as exc:
        raise InvalidArgument(str(exc)) from None


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
