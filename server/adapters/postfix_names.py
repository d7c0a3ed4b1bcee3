"""The names Postfix and sendingip share: the transport that sends from one IP,
``sendingip_<ip>`` (SPEC §5), both ways, and the account a message belongs to.

The policy door answers ``FILTER sendingip_<ip>:``, ``sendingip postfix master-cf``
defines those transports, and ``sendingip outcomes follow-postfix`` reads the IP back
from the ``postfix/sendingip_<ip>/smtp`` lines of the log: one module, so the three agree.
In the name, ``.`` and ``:`` are written ``_``. Reading back is unambiguous: four
decimal parts are IPv4, anything else is IPv6 (which has no dots once an IPv4-mapped
address is stored as IPv4).
"""

from __future__ import annotations

import ipaddress

PREFIX = "sendingip_"


def transport_for(ip: str) -> str:
    """``sendingip_192_0_2_1`` for ``192.0.2.1``, ``sendingip_2001_db8__1`` for ``2001:db8::1``."""
    return PREFIX + ip.replace(".", "_").replace(":", "_")


def ip_from_transport(name: str) -> str | None:
    """The IP of a ``sendingip_…`` transport name, or ``None`` when it is not one."""
    if not name.startswith(PREFIX):
        return None
    body = name[len(PREFIX) :]
    parts = body.split("_")
    text = ".".join(parts) if len(parts) == 4 and all(p.isdigit() for p in parts) else ":".join(parts)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def account_of(mode: str, value: str) -> str | None:
    """The account a ``sasl_username`` or sender value names under ``SENDINGIP_POSTFIX_ACCOUNT``
    ``mode``; ``None`` for none. The policy door and the log follower both ask this, so a
    message is attributed to the account it was routed for. ``sender_domain`` is the
    sender's domain, lower-cased (domains are case-insensitive)."""
    value = value.strip()
    if mode == "sender_domain":
        value = value.rpartition("@")[2].lower()
    return value or None
