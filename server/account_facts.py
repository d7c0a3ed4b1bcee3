"""The words ``sendingip status`` and the web console put beside an account's figures.

One source for both, from the ``Account`` message: which dates mean what, and how the
dedicated IPs compare with what the account needs.
"""

from __future__ import annotations

from sendingip.v1 import types_pb2

#: The columns of the Sending IP Addresses table (SPEC §1), as ``sendingip status`` and the
#: console's account page show them.
SENDING_IP_HEADERS = (
    "IP address",
    "Region",
    "Pool",
    "Pool type",
    "Status",
    "Warm-up",
    "Share",
    "Limit today",
    "Sent today",
    "Assigned on",
)
#: Those of them that hold numbers (aligned right).
SENDING_IP_NUMBERS = (5, 6, 7, 8)


def dates(account: types_pb2.Account) -> list[tuple[str, str]]:
    """(label, YYYY-MM-DD) pairs: when a Dedicated account became so and when its
    Transition started; when a Transition started. A General account has none."""
    if account.management_type == types_pb2.MANAGEMENT_TYPE_GENERAL:
        return []
    found: list[tuple[str, str]] = []
    if account.management_type == types_pb2.MANAGEMENT_TYPE_DEDICATED and account.dedicated_on:
        found.append(("Dedicated since", account.dedicated_on))
    if account.transition_started_on:
        found.append(("Transition started", account.transition_started_on))
    return found


def dedicated_ips(account: types_pb2.Account) -> str:
    """The account's dedicated IPs against the number it needs. ``required_ips`` is at
    least 1 (SPEC rule 1), the size a pool would have: a General account needs none."""
    count = account.dedicated_ip_count
    if account.management_type != types_pb2.MANAGEMENT_TYPE_GENERAL:
        return f"{count} of {account.required_ips} required"
    if count:
        return f"{count} (General: leaving its pool)"
    return "none (General: the shared pool)"


def dedicated_ips_cell(account: types_pb2.Account, joiner: str = " of ") -> str:
    """The same in a table cell: ``1 of 2`` (``joiner``), ``-`` for a General account
    without a pool, ``N (leaving)`` for one still draining its pool."""
    count = account.dedicated_ip_count
    if account.management_type != types_pb2.MANAGEMENT_TYPE_GENERAL:
        return f"{count}{joiner}{account.required_ips}"
    return f"{count} (leaving)" if count else "-"
