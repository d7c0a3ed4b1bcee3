"""Derived figures the Management API shows (SPEC §3), computed from a decision's plan.

These are the only percentages (0-100) of the policy; see ``settings`` for why. The type
is ``store.account_figures.AccountFigures``: the rebalancer stores part of it as it is.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date

from store.account_figures import AccountFigures, IPFigures
from store.policy_settings import Policy
from store.routing_entry import ManagementType, ProviderRoute
from workers.policy.model import PoolIP
from workers.policy.warmup import ip_status, longest_warm_stage, warm_stage, warmup_fraction
from workers.policy.window import WindowStats


def carrying_providers(policy: Policy, stats: WindowStats) -> tuple[str, ...]:
    """Providers with expected traffic: the pairs that must warm up before Dedicated."""
    return tuple(p for p in policy.mailbox_providers if stats.expected[p] > 0)


def compute_figures(
    day: date,
    policy: Policy,
    management_type: ManagementType,
    stats: WindowStats,
    required: int,
    ips: Sequence[PoolIP],
    stages: Mapping[str, Mapping[str, int]],
    routes: Mapping[str, ProviderRoute],
    carrying: Collection[str],
    settled: Collection[tuple[str, str]],
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
    warm = longest_warm_stage(policy)
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
                status=ip_status(policy, ip, carrying, settled),
                warmup_percent=100.0 * fraction,
                traffic_share_percent=(
                    100.0 * planned_per_ip.get(ip.address, 0.0) / total_expected if total_expected > 0 else 0.0
                ),
                daily_limit=limits.get(ip.address, 0),
                min_stage=min(
                    (min(by_provider.get(p, 0), warm_stage(policy, p)) for p in carrying),
                    default=warm,
                ),
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
        day=day.isoformat(),
        volume_30d=stats.volume_30d,
        peak_daily_volume_30d=stats.peak_daily_volume_30d,
        active_days_30d=stats.active_days_30d,
        required_ips=required,
        dedicated_ip_count=sum(1 for ip in ips if not ip.draining),
        dedicated_share_percent=share,
        transition_progress_percent=progress,
        expected_volume=dict(expected),
        ips=tuple(rows),
    )
