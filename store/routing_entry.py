"""The routing entry: what the rebalancer writes and every router loads.

This is the contract between the workers (producer) and the routers (consumer). It is
stored as JSON in ``routing_entries.entry``; ``FORMAT`` changes only with a migration of
the stored rows. Everything here is plain data: no I/O, no clock.

An *account entry* tells a router, per mailbox provider, which share of the account's
traffic goes to its dedicated pool and how that share is split over the pool's IPs,
with each (IP, provider) pair's daily limit for ``day``, how fast the router releases
those limits through the day (``hourly_burst``, rule 10) and the most one of its IPs
carries a day over all providers (``ip_capacity``, rule 9). A *region entry* lists the
region's general (shared) pool, used for the rest of the traffic and for every account
without an entry of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import msgspec

FORMAT = 1

ManagementType = Literal["general", "transition", "dedicated"]
PoolType = Literal["general", "dedicated"]

#: The provider whose route applies to a provider an entry does not name.
FALLBACK_PROVIDER = "other"
#: What a mailbox provider name may look like, wherever one is given: a request, imported
#: history, the policy's list, the router's domain table (``warmup_state``'s CHECK too).
PROVIDER_NAME = re.compile(r"[a-z0-9_-]{1,32}")


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
    #: The policy's ``hourly_burst`` (SPEC rule 10): the router releases each daily limit by
    #: the UTC hour (``store.hourly_pacing``). 0, pacing off, is also what an entry written
    #: before pacing existed reads as, so a stored entry never starts pacing unannounced.
    hourly_burst: float = 0.0
    #: The policy's ``ip_daily_capacity`` (SPEC rule 9): the most one dedicated IP of the
    #: account carries a day, summed over providers, warm or warming; past it the router
    #: overflows as from a full pair. ``None``, uncapped, is also what an entry written
    #: before the router enforced it reads as.
    ip_capacity: int | None = None

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
                "hourly_burst": self.hourly_burst,
                "ip_capacity": self.ip_capacity,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> AccountRoute:
        stored = decode_account(text)
        return cls(
            account_id=stored.account_id,
            region=stored.region,
            management_type=stored.management_type,
            day=stored.day,
            pool_id=stored.pool_id,
            providers={
                name: ProviderRoute(
                    route.dedicated_share,
                    tuple(DedicatedIP(ip.address, ip.weight, ip.daily_limit) for ip in route.ips),
                )
                for name, route in stored.providers.items()
            },
            hourly_burst=stored.hourly_burst,
            ip_capacity=stored.ip_capacity,
        )


@dataclass(frozen=True, slots=True)
class RegionRoute:
    """A region's general (shared) pool."""

    region: str
    pool_id: str
    addresses: tuple[str, ...]
    #: (v2, SPEC rule 12) The weight of each address, in ``addresses``' order, summing to 1,
    #: while some IP is still ramping in (``store.general_pool``); ``()``: equal shares, also
    #: what an entry written before rule 12 reads as.
    weights: tuple[float, ...] = ()

    def to_json(self) -> str:
        entry: dict[str, object] = {
            "format": FORMAT,
            "kind": "region",
            "region": self.region,
            "pool_id": self.pool_id,
            "addresses": list(self.addresses),
        }
        if self.weights:  # absent when equal: the text of an all-warm pool is unchanged
            entry["weights"] = list(self.weights)
        return json.dumps(entry, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> RegionRoute:
        stored = decode_region(text)
        return cls(region=stored.region, pool_id=stored.pool_id, addresses=stored.addresses, weights=stored.weights)


# -- the stored JSON, as read ------------------------------------------------------------
#
# Every router decodes every entry that changes, so reading is typed and done in C
# (msgspec): ~4 µs for an account with five providers, against ~40 µs for json.loads and
# the dataclasses above. The ``Stored*`` types mirror ``to_json`` field for field; each
# has the attributes the router's compiler reads (``StoredIP`` those of ``DedicatedIP``).


class StoredIP(msgspec.Struct, array_like=True, frozen=True):
    """``[address, weight, daily_limit]``."""

    address: str
    weight: float
    daily_limit: int | None


class StoredRoute(msgspec.Struct, frozen=True):
    dedicated_share: float
    ips: tuple[StoredIP, ...] = ()


class StoredAccount(msgspec.Struct, frozen=True):
    format: Literal[1]  # FORMAT: a stored entry of another format is refused
    kind: Literal["account"]
    account_id: str
    region: str
    management_type: ManagementType
    day: date
    pool_id: str | None
    providers: dict[str, StoredRoute] = {}
    hourly_burst: float = 0.0  # absent from entries written before rule 10: pacing off
    ip_capacity: int | None = None  # absent from entries written before rule 9 in the router: uncapped


class StoredRegion(msgspec.Struct, frozen=True):
    format: Literal[1]  # FORMAT
    kind: Literal["region"]
    region: str
    pool_id: str
    addresses: tuple[str, ...]
    weights: tuple[float, ...] = ()  # absent from entries written before rule 12, and when equal


_ACCOUNT = msgspec.json.Decoder(StoredAccount)
_REGION = msgspec.json.Decoder(StoredRegion)


def decode_account(text: str | bytes) -> StoredAccount:
    """An account entry as stored; ``ValueError`` naming the field when it is not one."""
    try:
        return _ACCOUNT.decode(text)
    except msgspec.DecodeError as exc:
        raise ValueError(f"routing entry: not an account entry of format {FORMAT}: {exc}") from None


def decode_region(text: str | bytes) -> StoredRegion:
    """A region entry as stored; ``ValueError`` naming the field when it is not one."""
    try:
        return _REGION.decode(text)
    except msgspec.DecodeError as exc:
        raise ValueError(f"routing entry: not a region entry of format {FORMAT}: {exc}") from None
