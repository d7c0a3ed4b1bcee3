"""An account's figures: what the policy computes each run, and the part of it the
Management API shows (``accounts.figures``) without recomputing the policy.

One type for both. The policy (``workers.policy.figures``) fills every field; ``to_json``
keeps the ones ``GetAccount`` and ``ListSendingIPs`` show, and ``from_json`` reads them
back with the policy's working figures left at their defaults. A missing key reads as
zero, so an account the rebalancer has not seen yet shows zeros.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

#: The policy's status of a dedicated IP (SPEC §1).
IpStatus = Literal["in_progress", "active", "draining"]

#: The stored fields, in the order they are written.
_STORED_IP = ("warmup_percent", "traffic_share_percent", "daily_limit", "status")
_STORED = (
    "day",
    "volume_30d",
    "peak_daily_volume_30d",
    "active_days_30d",
    "required_ips",
    "dedicated_share_percent",
    "transition_progress_percent",
)


@dataclass(frozen=True, slots=True)
class IPFigures:
    """One row of the Sending IP Addresses table for a dedicated IP."""

    address: str
    #: The policy's status: it alone knows which providers carry the account's traffic (a
    #: pair never sent to does not hold an IP back). "" in figures stored before it was.
    status: IpStatus | Literal[""] = ""
    #: Mean progress through the schedule over the providers that carry traffic.
    warmup_percent: float = 0.0
    #: This IP's planned share of the account's expected traffic today.
    traffic_share_percent: float = 0.0
    #: Today's limits summed over providers; warm pairs add nothing (0 when all are warm).
    daily_limit: int = 0
    #: Not stored. The lowest stage over the providers that carry traffic (what holds the
    #: IP back).
    min_stage: int = 0


@dataclass(frozen=True, slots=True)
class AccountFigures:
    #: YYYY-MM-DD, the day the figures are for.
    day: str = ""
    volume_30d: int = 0
    peak_daily_volume_30d: int = 0
    active_days_30d: int = 0
    required_ips: int = 0
    #: Share of today's expected traffic planned for the dedicated pool, weighted by ``E_p``.
    dedicated_share_percent: float = 0.0
    #: 0 at assignment, 100 when Dedicated: mean warm-up of the pool's pairs that matter.
    transition_progress_percent: float = 0.0
    #: The pool's IPs, in pool order.
    ips: tuple[IPFigures, ...] = ()
    #: Not stored (Management counts the pool itself). IPs of the pool that may carry
    #: traffic (Draining ones excluded).
    dedicated_ip_count: int = 0
    #: Not stored. ``E_p`` per provider (messages per day).
    expected_volume: Mapping[str, float] = field(default_factory=dict)

    def ip(self, address: str) -> IPFigures:
        """The figures of ``address``; zeros (and no status) for an IP they do not list."""
        for found in self.ips:
            if found.address == address:
                return found
        return IPFigures(address)

    def to_json(self) -> str:
        raw: dict[str, Any] = {name: getattr(self, name) for name in _STORED}
        raw["ips"] = {ip.address: {name: getattr(ip, name) for name in _STORED_IP} for ip in self.ips}
        return json.dumps(raw, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes | None) -> AccountFigures:
        if not text:
            return cls()
        raw: dict[str, Any] = json.loads(text)
        ips = tuple(IPFigures(str(a), **v) for a, v in (raw.get("ips") or {}).items())
        return cls(**{k: v for k, v in raw.items() if k in _STORED}, ips=ips)
