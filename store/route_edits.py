"""Edits of a published account entry that cannot wait for the next rebalance.

BlockIPs and RemoveIPs take IPs out of service now (SPEC §3 v2: "from the next routing
version on"), while only the rebalancer can plan a pool again. So the call republishes
the account's entry without those IPs: each provider's other IPs share their weight, and a
provider left with none sends its dedicated share to the general pool (the router treats
an empty route as none). Limits stay, so the IPs that remain carry no more than their
warm-up allows; the rest overflows as rule 8 says. The next run replaces the entry with
a planned one. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from store.routing_entry import AccountRoute, DedicatedIP, ProviderRoute


def without_addresses(route: AccountRoute, addresses: Collection[str]) -> AccountRoute:
    """``route`` with ``addresses`` taken out of every provider's IPs (weights renormalised)."""
    providers = {name: _without(p, addresses) for name, p in route.providers.items()}
    return replace(route, providers=providers)


def _without(route: ProviderRoute, addresses: Collection[str]) -> ProviderRoute:
    kept = [ip for ip in route.ips if ip.address not in addresses]
    if len(kept) == len(route.ips):
        return route
    total = sum(ip.weight for ip in kept)
    if not total > 0:
        return ProviderRoute(0.0, ())
    return ProviderRoute(
        route.dedicated_share, tuple(DedicatedIP(ip.address, ip.weight / total, ip.daily_limit) for ip in kept)
    )
