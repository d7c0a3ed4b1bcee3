"""How many dedicated IPs an account needs, and when it enters or leaves its pool.

Thresholds have hysteresis (rules 1 and 6): an account qualifies for a pool at
``dedicated_threshold_30d`` (with enough active days) and gives it up only below the
lower ``general_threshold_30d``, so an account near one line does not flap.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date

from store.policy_settings import Policy
from workers.policy.model import PoolIP
from workers.policy.window import WindowStats


def required_ips(policy: Policy, peak_daily_volume: int) -> int:
    """``clamp(ceil(peak / ip_daily_capacity), 1, max_ips_per_account)``."""
    needed = -(-peak_daily_volume // policy.ip_daily_capacity)
    return max(1, min(needed, policy.max_ips_per_account))


def qualifies_for_pool(policy: Policy, stats: WindowStats) -> bool:
    """Rule 1: enough volume, sent regularly (one blast is not regular sending)."""
    return stats.volume_30d >= policy.dedicated_threshold_30d and stats.active_days_30d >= policy.min_active_days


def below_general_threshold(policy: Policy, stats: WindowStats) -> bool:
    """Rule 6: the volume no longer keeps an IP warm; the account returns to General."""
    return stats.volume_30d < policy.general_threshold_30d


def update_scale_in_streak(
    streak: int, checked_on: date | None, day: date, fewer_needed: bool
) -> tuple[int, date | None]:
    """The number of consecutive days on which fewer IPs were needed, as of ``day``.

    Counted per calendar day between runs (a skipped run's days count if the need was
    still lower at both ends); a second run on the same day changes nothing.
    """
    if checked_on is not None and checked_on >= day:
        return streak, checked_on
    if not fewer_needed:
        return 0, day
    if streak > 0 and checked_on is not None:
        return streak + (day - checked_on).days, day
    return 1, day


def pick_ip_to_drain(
    policy: Policy,
    active: Sequence[PoolIP],
    stages: Mapping[str, Mapping[str, int]],
    carrying: Collection[str],
) -> PoolIP:
    """The least warmed IP (it carries the least), the most recently assigned on a tie."""
    providers = carrying or policy.mailbox_providers

    def key(ip: PoolIP) -> tuple[int, int, str]:
        by_provider = stages.get(ip.address, {})
        return (sum(by_provider.get(p, 0) for p in providers), -ip.assigned_on.toordinal(), ip.address)

    return min(active, key=key)
