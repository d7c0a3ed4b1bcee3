"""The figures the rebalancer stores per account (``accounts.figures``)
for the Management API to show without recomputing the policy.

Written by the workers after each decision; read by ``GetAccount`` / ``ListSendingIPs``.
A missing key reads as zero, so an account the rebalancer has not seen yet shows zeros.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class IPFigures:
    warmup_percent: float = 0.0
    traffic_share_percent: float = 0.0
    daily_limit: int = 0
    #: The policy's status: "in_progress", "active" or "draining"; it alone knows which
    #: providers carry the account's traffic (a pair never sent to does not hold an IP back).
    status: str = ""


@dataclass(frozen=True, slots=True)
class AccountFigures:
    day: str = ""  # YYYY-MM-DD the figures are for
    volume_30d: int = 0
    peak_daily_volume_30d: int = 0
    active_days_30d: int = 0
    required_ips: int = 0
    dedicated_share_percent: float = 0.0
    transition_progress_percent: float = 0.0
    ips: Mapping[str, IPFigures] = field(default_factory=dict)

    def to_json(self) -> str:
        raw = asdict(self)
        raw["ips"] = {address: asdict(ip) for address, ip in self.ips.items()}
        return json.dumps(raw, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes | None) -> AccountFigures:
        if not text:
            return cls()
        raw: dict[str, Any] = json.loads(text)
        ips = {str(a): IPFigures(**v) for a, v in (raw.pop("ips", None) or {}).items()}
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known, ips=ips)
