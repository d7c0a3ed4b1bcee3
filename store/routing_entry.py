"""The routing entry: what the rebalancer writes and every router loads.

This is the contract between the workers (producer) and the routers (consumer). It is
stored as JSON in ``routing_entries.entry``; ``FORMAT`` changes only with a migration of
the stored rows. Everything here is plain data: no I/O, no clock.

An *account entry* tells a router, per mailbox provider, which share of the account's
traffic goes to its dedicated pool and how that share is split over the pool's IPs,
with each (IP, provider) pair's daily limit for ``day``. A *region entry* lists the
region's general (shared) pool, used for the rest of the traffic and for every account
without an entry of its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

FORMAT = 1

ManagementType = Literal["general", "transition", "dedicated"]
PoolType = Literal["general", "dedicated"]
MANAGEMENT_TYPES: tuple[ManagementType, ...] = ("general", "transition", "dedicated")

#: The provider whose route applies to a provider an entry does not name.
FALLBACK_PROVIDER = "other"


@dataclass(frozen=True, slots=True)
class DedicatedIP:
    """One IP of a dedicated pool as the router sees it for one provider."""

    address: str
    #: Relative weight inside the dedicated pool for this provider (>= 0; the
    #: weights of one provider sum to 1 when any is positive).
    weight: float
    #: Today's limit for this (IP, provider) pair; ``None`` once the pair is warm.
    daily_limit: int | None


@dataclass(frozen=True, slots=True)
class ProviderRoute:
    """How one account's traffic to one mailbox provider is split today."""

    #: Share of the traffic sent to the dedicated pool, 0..1 (``f_p`` of SPEC rule 3).
    dedicated_share: float
    ips: tuple[DedicatedIP, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountRoute:
    account_id: str
    region: str
    management_type: ManagementType
    day: date
    #: The account's dedicated pool, ``None`` while it has none.
    pool_id: str | None
    #: Route per provider; a provider not named here uses ``FALLBACK_PROVIDER``'s
    #: route, and an account without routes sends everything through the general pool.
    providers: Mapping[str, ProviderRoute] = field(default_factory=dict)

    def route_for(self, provider: str) -> ProviderRoute | None:
        return self.providers.get(provider) or self.providers.get(FALLBACK_PROVIDER)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "kind": "account",
                "account_id": self.account_id,
                "region": self.region,
                "management_type": self.management_type,
                "day": self.day.isoformat(),
                "pool_id": self.pool_id,
                "providers": {
                    name: {
                        "dedicated_share": route.dedicated_share,
                        "ips": [[ip.address, ip.weight, ip.daily_limit] for ip in route.ips],
                    }
                    for name, route in sorted(self.providers.items())
                },
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> AccountRoute:
        raw = _load(text, "account")
        management_type = raw["management_type"]
        if management_type not in MANAGEMENT_TYPES:
            raise ValueError(f"routing entry: unknown management_type {management_type!r}")
        return cls(
            account_id=str(raw["account_id"]),
            region=str(raw["region"]),
            management_type=management_type,
            day=date.fromisoformat(raw["day"]),
            pool_id=raw["pool_id"],
            providers={
                str(name): ProviderRoute(
                    dedicated_share=float(route["dedicated_share"]),
                    ips=tuple(
                        DedicatedIP(str(address), float(weight), None if limit is None else int(limit))
                        for address, weight, limit in route["ips"]
                    ),
                )
                for name, route in raw["providers"].items()
            },
        )


@dataclass(frozen=True, slots=True)
class RegionRoute:
    """A region's general (shared) pool."""

    region: str
    pool_id: str
    addresses: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "kind": "region",
                "region": self.region,
                "pool_id": self.pool_id,
                "addresses": list(self.addresses),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> RegionRoute:
        raw = _load(text, "region")
        return cls(
            region=str(raw["region"]),
            pool_id=str(raw["pool_id"]),
            addresses=tuple(str(a) for a in raw["addresses"]),
        )


def _load(text: str | bytes, kind: str) -> dict[str, Any]:
    raw = json.loads(text)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT or raw.get("kind") != kind:
        raise ValueError(f"routing entry: expected a {kind} entry of format {FORMAT}")
    return raw
