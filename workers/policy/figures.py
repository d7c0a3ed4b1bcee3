"""Derived figures the Management API shows (SPEC §3), computed from a decision's plan.

These are the only percentages (0-100) of the policy; see ``settings`` for why.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from store.routing_entry import ManagementType, ProviderRoute
from workers.policy.model import IpStatus, PoolIP
from workers.policy.settings import Policy
from workers.policy.warmup import ip_status, warmup_fraction
from workers.policy.window import WindowStats


@dataclass(frozen=True, slots=True)
class IPFigures:
    """One row of the Sending IP Addresses table for a dedicated IP."""

    address: str
    status: IpStatus
    assigned_on: date
    #: Mean progress through the schedule over the providers that carry traffic.
    warmup_percent: float
    #: This IP's planned share of the account's expected traffic today.
    traffic_share_percent: float
    #: Today's limits summed over providers; warm pairs add nothing (0 when all are warm).
    daily_limit: int
    #: Stage per provider.
    stages: Mapping[str, int]
    #: The lowest stage over the providers that carry traffic (what holds the IP back).
    min_stage: int


@dataclass(frozen=True, slots=True)
class AccountFigures:
    volume_30d: int
    peak_daily_volume_30d: int
    active_days_30d: int
    required_ips: int
    #: IPs of the pool that may carry traffic (Draining ones excluded).
    dedicated_ip_count: int
    #: Share of today's expected traffic planned for the dedicated pool, weighted by ``E_p``.
    dedicated_share_percent: float
    #: 0 at assignment, 100 when Dedicated: mean warm-up of the pool's pairs that matter.
    transition_progress_percent: float
    #: ``E_p`` per provider (messages per day).
    expected_volume: Mapping[str, float]
    #: Providers with expected traffic: the pairs that must warm up before Dedicated.
    carrying_providers: tuple[str, ...]
    ips: tuple[IPFigures, ...]


def carrying_providers(policy: Policy, stats: WindowStats) -> tuple[str, ...]:
    return tuple(p for p in policy.mailbox_providers if stats.expected[p] > 0)


def compute_figures(
    policy: Policy,
    management_type: ManagementType,
    stats: WindowStats,
    required: int,
    ips: Sequence[PoolIP],
    stages: Mapping[str, Mapping[str, int]],
    routes: Mapping[str, ProviderRoute],
    carrying: Collection[str],
) -> AccountFigures:
    expected = stats.expected
    total_expected = stats.expected_total
    planned_per_ip: dict[str, float] = {}
    dedicated_planned = 0.0
    limits: dict[str, int] = {}
    for provider, route in routes.items():
        e = expected.get(provider, 0.0)
        dedicated = e * route.dedicated_share
        dedicated_planned += dedicated
        for rip in route.ips:
            planned_per_ip[rip.address] = planned_per_ip.get(rip.address, 0.0) + dedicated * rip.weight
            if rip.daily_limit:
                limits[rip.address] = limits.get(rip.address, 0) + rip.daily_limit
    if total_expected > 0:
        share = 100.0 * dedicated_planned / total_expected
    elif routes:
        share = 100.0 * sum(r.dedicated_share for r in routes.values()) / len(routes)
    else:
        share = 0.0
    warm = policy.warm_stage
    rows: list[IPFigures] = []
    fractions: list[float] = []
    for ip in ips:
        by_provider = stages.get(ip.address, {})
        fraction = warmup_fraction(policy, by_provider, carrying)
        if not ip.draining:
            fractions.append(fraction)
        rows.append(
            IPFigures(
                address=ip.address,
                status=ip_status(policy, ip, by_provider, carrying),
                assigned_on=ip.assigned_on,
                warmup_percent=100.0 * fraction,
                traffic_share_percent=(
                    100.0 * planned_per_ip.get(ip.address, 0.0) / total_expected if total_expected > 0 else 0.0
                ),
                daily_limit=limits.get(ip.address, 0),
                stages=dict(by_provider),
                min_stage=min((min(by_provider.get(p, 0), warm) for p in carrying), default=warm),
            )
        )
    if management_type == "dedicated":
        progress = 100.0
    elif management_type == "transition" and fractions:
        # Rule 4 moves to Dedicated in the run where every pair is warm, so in Transition
        # this stays below 100 (it shows 100 only while paused with all pairs warm).
        progress = 100.0 * sum(fractions) / len(fractions)
    else:
        progress = 0.0
    return AccountFigures(
        volume_30d=stats.volume_30d,
        peak_daily_volume_30d=stats.peak_daily_volume_30d,
        active_days_30d=stats.active_days_30d,
        required_ips=required,
        dedicated_ip_count=sum(1 for ip in ips if not ip.draining),
        dedicated_share_percent=share,
        transition_progress_percent=progress,
        expected_volume=dict(expected),
        carrying_providers=tuple(carrying),
        ips=tuple(rows),
    )
