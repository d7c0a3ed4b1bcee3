"""Today's split of an account's traffic per mailbox provider (rules 3 and 5).

Limits. A warming pair's limit is its stage's limit, capped so that an IP's limits over
all providers stay within ``ip_daily_capacity``: each provider gets the slice of the
capacity that matches its part of the account's expected traffic
(``cap_p = ip_daily_capacity · E_p / ΣE``). A warm pair has no limit for the router
(``daily_limit=None``); for weighting its capacity is ``cap_p``. Sizing from the peak day
keeps a warm IP's expected load within its slices.

Transition (rule 3): ``D_p = Σ capacity(IP, p)``, ``f_p = min(1, D_p / E_p)``, weights
∝ capacity. A warming pair's planned traffic is ``E_p · f_p · cap_i / D_p ≤ cap_i``: never
over its limit when the volume matches the expectation.

Dedicated (rule 5): ``f_p = 1`` (0 for a provider without capacity and without a warm
pair, rule 13: the shared pool takes it) and weights ∝ today's capacity, so an added IP's
share grows with its schedule. When the pool's capacity is short of ``E_p`` (the added IP is
needed but still warming), a warming pair gets exactly its limit's share
(``cap_i / E_p``) and the warm IPs carry the rest: a warm IP above its nominal capacity
is a smaller risk than a warming one above its stage.

Draining IPs are listed with weight 0 and limit 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from store.policy_settings import Policy
from store.routing_entry import DedicatedIP, ProviderRoute
from workers.policy.model import PoolIP


def provider_caps(policy: Policy, expected: Mapping[str, float]) -> dict[str, int]:
    """Each provider's slice of one IP's daily capacity, from the expected provider mix."""
    providers = policy.mailbox_providers
    capacity = policy.ip_daily_capacity
    total = sum(expected.get(p, 0.0) for p in providers)
    if total <= 0:
        even = capacity // len(providers)
        return dict.fromkeys(providers, even)
    return {p: int(capacity * expected.get(p, 0.0) / total) for p in providers}


def pair_limit(policy: Policy, provider: str, stage: int, cap: int) -> int | None:
    """The router's daily limit of a pair of ``provider`` (its provider's schedule);
    ``None`` when warm."""
    schedule = policy.schedule_for(provider)
    if stage >= len(schedule):
        return None
    limit = schedule[stage]
    return limit if limit < cap else cap


def plan_routes(
    policy: Policy,
    dedicated: bool,
    ips: Sequence[PoolIP],
    stages: Mapping[str, Mapping[str, int]],
    caps: Mapping[str, int],
    expected: Mapping[str, float],
) -> dict[str, ProviderRoute]:
    """Routes per provider for an account in Transition (``dedicated=False``) or Dedicated."""
    routes: dict[str, ProviderRoute] = {}
    for provider in policy.mailbox_providers:
        warm_stage = len(policy.schedule_for(provider))
        cap = caps[provider]
        e = expected.get(provider, 0.0)
        entries: list[tuple[str, int, int | None, bool]] = []  # address, capacity, limit, warm
        total = 0
        for ip in ips:
            if ip.draining:
                continue
            stage = stages[ip.address].get(provider, 0)
            limit = pair_limit(policy, provider, stage, cap)
            capacity = cap if limit is None else limit
            entries.append((ip.address, capacity, limit, stage >= warm_stage))
            total += capacity
        weights: dict[str, float]
        if not entries:
            share = 0.0
            weights = {}
        elif total <= 0:
            # No capacity for this provider (nothing or next to nothing expected, so its
            # slice of an IP rounds to 0): in Dedicated its warm IPs take such mail, spread
            # evenly (rule 8); otherwise the shared pool does, not as overflow (rule 13: a
            # provider new to a Dedicated account warms up from the run after it starts
            # sending, when its expected volume gives its stage-0 pairs a limit).
            takers = [a for a, _, _, w in entries if w] if dedicated else []
            share = 1.0 if takers else 0.0
            even = 1.0 / len(takers) if takers else 0.0
            weights = {address: (even if address in takers else 0.0) for address, _, _, _ in entries}
        elif dedicated:
            share = 1.0
            warm_total = sum(c for _, c, _, w in entries if w)
            if e <= total or warm_total <= 0:
                weights = {address: c / total for address, c, _, _ in entries}
            else:
                weights = {address: c / e for address, c, _, w in entries if not w}
                rest = max(0.0, 1.0 - sum(weights.values()))
                for address, c, _, w in entries:
                    if w:
                        weights[address] = rest * c / warm_total
        else:
            share = 1.0 if e <= total else total / e
            weights = {address: c / total for address, c, _, _ in entries}
        limits = {address: limit for address, _, limit, _ in entries}
        route_ips = tuple(
            DedicatedIP(ip.address, 0.0, 0)
            if ip.draining
            else DedicatedIP(ip.address, weights[ip.address], limits[ip.address])
            for ip in ips
        )
        routes[provider] = ProviderRoute(dedicated_share=share, ips=route_ips)
    return routes
