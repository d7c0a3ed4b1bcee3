"""Request validation (SPEC §3 "Errors"): a message that names the field and the rule.

The one set of field rules for every door of both services: the router (its gRPC,
HTTP and line doors, the CLI's outcome and Postfix readers) and the Management API
check an account id, a region, a day, a mailbox provider, an address or a count with
the same function, so the same input gets the same answer wherever it arrives. Every
failure is a ``RequestError`` (``field: rule``); each service turns it into
``INVALID_ARGUMENT``. Pure functions; nothing here imports a service.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from datetime import UTC, date, datetime, time
from typing import Protocol

from sendingip.v1 import types_pb2
from store import hostnames
from store.accounts import ACCOUNT_ID as ACCOUNT_ID  # SPEC §3; the policy's overrides check it too
from store.routing_entry import PROVIDER_NAME

_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MAX_MESSAGE_ID_BYTES = 998
#: A string this short fits in 998 bytes whatever its characters (UTF-8 takes <= 4 each).
_SURELY_SHORT = _MAX_MESSAGE_ID_BYTES // 4
_MAX_DOMAIN = 253
#: Whitespace as str.isspace() sees it (re's \s uses the same table), 4x faster than any(isspace).
_SPACE = re.compile(r"\s")
#: Most messages one Outcome or one ImportHistory row may count per field (SPEC §3
#: "Bounds"): far above what one IP sends in a day, small enough that a full batch's sums
#: fit a bigint many times over.
MAX_COUNT = 10**9
#: The counts of an Outcome, in the order the router stores them.
OUTCOME_COUNTS = ("delivered", "deferred", "bounced", "complained", "throttled")
_REPORT_ID = re.compile(r"[\x21-\x7e]{1,128}")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class SelectRequest(Protocol):
    """A SelectSendingIPRequest, or any door's object with the same fields."""

    @property
    def account_id(self) -> str: ...
    @property
    def message_id(self) -> str: ...
    @property
    def recipient_domain(self) -> str: ...
    @property
    def mailbox_provider(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def retry(self) -> bool: ...


class ProviderTable(Protocol):
    """The router's recipient-domain table (``server.router.providers``), as a pick uses it."""

    @property
    def providers(self) -> Collection[str]: ...
    def classify(self, domain: str) -> str: ...


class RequestError(ValueError):
    """A malformed request; ``str()`` names the field."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field


def account_id(value: str, field: str = "account_id") -> str:
    if ACCOUNT_ID.fullmatch(value) is None:
        if not value:
            raise RequestError(field, "required")
        raise RequestError(field, "must be 1-128 characters of A-Z a-z 0-9 . _ : @ -")
    return value


def message_id(value: str, field: str = "message_id") -> str:
    n = len(value)
    if 0 < n <= _SURELY_SHORT:
        return value
    if n == 0:
        raise RequestError(field, "required")
    if n > _MAX_MESSAGE_ID_BYTES or len(value.encode("utf-8", "surrogatepass")) > _MAX_MESSAGE_ID_BYTES:
        raise RequestError(field, f"must be at most {_MAX_MESSAGE_ID_BYTES} bytes")
    return value


def region(value: str, field: str = "region") -> str:
    """A region name. Where a region may be left out (a pick), the caller skips the check."""
    if _REGION.fullmatch(value) is None:
        if not value:
            raise RequestError(field, "required")
        raise RequestError(field, "must be 1-63 characters of a-z 0-9 -, starting with a letter or digit")
    return value


def mailbox_provider(value: str, known: Collection[str], field: str = "mailbox_provider") -> str:
    """One of the ``known`` providers: the router's table, or the policy's list for history."""
    if value in known:
        return value
    if PROVIDER_NAME.fullmatch(value) is None:
        raise RequestError(field, "must be 1-32 characters of a-z 0-9 _ -")
    raise RequestError(
        field, f"unknown provider; expected one of {', '.join(sorted(known))} (mail to any other receiver is 'other')"
    )


def select_provider(request: SelectRequest, providers: ProviderTable, prefix: str = "") -> str:
    """Validate a SelectSendingIPRequest; returns its mailbox provider."""
    return select_fields(
        request.account_id,
        request.message_id,
        request.region,
        request.mailbox_provider,
        request.recipient_domain,
        providers,
        prefix,
    )


def select_fields(
    account: str, message: str, region_name: str, provider: str, domain: str, providers: ProviderTable, prefix: str = ""
) -> str:
    """``select_provider`` for fields already read: a batch reads each field of a protobuf
    item once (every read of a string field makes a new str) and validates the values."""
    account_id(account, prefix + "account_id")
    message_id(message, prefix + "message_id")
    if region_name:
        region(region_name, prefix + "region")
    if provider:
        return mailbox_provider(provider, providers.providers, prefix + "mailbox_provider")
    if not domain:
        raise RequestError(prefix + "recipient_domain", "required unless mailbox_provider is set")
    if len(domain) > _MAX_DOMAIN or _SPACE.search(domain) is not None:
        raise RequestError(prefix + "recipient_domain", f"must be a domain name of at most {_MAX_DOMAIN} characters")
    return providers.classify(domain)


def ip_address(value: str, field: str = "ip") -> IPAddress:
    """A sending address, by the one rule every door and both services apply (SPEC §3).

    An IPv4 or IPv6 address (not a network), neither unspecified nor multicast, and without
    an IPv6 zone id: ``fe80::1%eth0`` names an interface of the sender's host, not an
    address of ours, and its text (a NUL, any byte) would reach PostgreSQL, which refuses
    it. An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) is its IPv4 address, so that one
    IP has one text wherever it is stored. Surrounding whitespace is ignored.
    """
    if "%" in value:
        raise RequestError(field, f"{_shown(value)} carries an IPv6 zone id (after '%'); give the address alone")
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise RequestError(field, f"{_shown(value)} is not an IPv4 or IPv6 address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified or address.is_multicast:
        raise RequestError(field, f"{_shown(value)} cannot be a sending address (unspecified or multicast)")
    return address


def ip(value: str, field: str = "ip") -> str:
    """The canonical text of a sending address (``ip_address``)."""
    return str(ip_address(value, field))


def hostname(value: str, field: str = "hostname") -> str:
    """An IP's hostname as stored (``store.hostnames``: a DNS name, lower case)."""
    try:
        return hostnames.normalize(value)
    except ValueError as exc:
        raise RequestError(field, f"{_shown(value)} {exc}") from None


def _shown(value: str) -> str:
    """A value as an error message quotes it: escaped, and short."""
    return repr(value[:80]) + ("…" if len(value) > 80 else "")


def day(value: str, field: str = "day") -> date:
    if _DAY.fullmatch(value) is not None:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise RequestError(field, f"{_shown(value)} is not a date YYYY-MM-DD")


def since(value: str, field: str = "since") -> datetime:
    """An instant: RFC 3339 with an offset (``2026-03-01T12:00:00Z``) or a day
    ``YYYY-MM-DD``, meaning 00:00 UTC; a time without an offset is refused (whose 12:00?)."""
    if _DAY.fullmatch(value) is not None:
        return datetime.combine(day(value, field), time.min, UTC)
    try:
        instant = datetime.fromisoformat(value.replace("z", "Z")) if "T" in value.upper() else None
    except ValueError:
        instant = None
    if instant is None:
        raise RequestError(
            field, f"{_shown(value)} is not a day YYYY-MM-DD or an RFC 3339 time like 2026-03-01T12:00:00Z"
        )
    if instant.tzinfo is None:
        raise RequestError(field, f"{_shown(value)} has no offset: end it with Z (UTC) or +HH:MM")
    return instant.astimezone(UTC)


def report_id(value: str, field: str = "report_id") -> str:
    """Optional; when given, 1-128 printable ASCII characters without spaces."""
    if value and _REPORT_ID.fullmatch(value) is None:
        raise RequestError(field, "must be 1-128 printable ASCII characters without spaces")
    return value


def batch_size(n: int, maximum: int, field: str) -> None:
    if n > maximum:
        raise RequestError(field, f"{n} items; at most {maximum} per call")


def outcome(o: types_pb2.Outcome, providers: ProviderTable, prefix: str) -> tuple[date, str, str, str]:
    """Validate an Outcome; returns its key (day, account_id, ip, provider)."""
    key = (
        day(o.day, prefix + "day"),
        account_id(o.account_id, prefix + "account_id"),
        ip(o.ip, prefix + "ip") if o.ip else "",
        mailbox_provider(o.mailbox_provider, providers.providers, prefix + "mailbox_provider"),
    )
    for name in OUTCOME_COUNTS:
        count(getattr(o, name), prefix + name)
    return key


def count(n: int, field: str) -> int:
    """A count of ImportHistory or ReportOutcomes: 0 to ``MAX_COUNT`` (SPEC §3 "Bounds")."""
    if n < 0:
        raise RequestError(field, "must not be negative")
    if n > MAX_COUNT:
        # Without a bound a few rows overflow PostgreSQL's bigint sums: ReportOutcomes
        # answered UNAVAILABLE (a client retried bad input for ever), the status calls INTERNAL.
        raise RequestError(field, f"must be at most {MAX_COUNT:,} (one day of one IP), got {n:,}")
    return n
