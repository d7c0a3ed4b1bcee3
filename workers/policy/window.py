"""Figures of the history window: 30-day volume, peak day, active days, expected volume.

``E_p`` (expected daily volume per provider, SPEC rule 3) is the mean of the account's
last ``expected_volume_days`` *sending* days in the window. Why sending days: a
weekday-only sender's calendar mean is 5/7 of what it sends on a working day, which would
overstate the dedicated capacity's share and push warming pairs over their limits on every
sending day. Why the last 7: a growing account's share follows its growth within a week,
while one quiet or huge day moves ``E_p`` by a seventh only. Bursts raise ``E_p``, which
lowers ``f_p``: the error is on the safe side (less traffic on warming IPs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from store.policy_settings import Policy
from workers.policy.model import DayHistory


@dataclass(frozen=True, slots=True)
class WindowStats:
    volume_30d: int
    peak_daily_volume_30d: int
    active_days_30d: int
    #: ``E_p`` per configured provider (providers the policy does not list count as ``other``).
    expected: Mapping[str, float]

    @property
    def expected_total(self) -> float:
        return sum(self.expected.values())


def days_in_window(policy: Policy, window: Iterable[DayHistory], day: date) -> list[DayHistory]:
    """The history days D - history_window_days .. D - 1, oldest first."""
    first = day - timedelta(days=policy.history_window_days)
    days = [h for h in window if first <= h.day < day]
    previous = first - timedelta(days=1)
    for h in days:  # callers usually keep the window in order: skip the sort then
        if h.day <= previous:
            days.sort(key=_day_of)
            break
        previous = h.day
    return days


def _day_of(h: DayHistory) -> date:
    return h.day


def summarize(policy: Policy, days: list[DayHistory]) -> WindowStats:
    """``days`` as returned by ``days_in_window``."""
    providers = policy.mailbox_providers
    volume = peak = active = 0
    sending: list[DayHistory] = []
    for h in days:
        total = h.total
        if total > 0:
            volume += total
            active += 1
            sending.append(h)
            if total > peak:
                peak = total
    expected = dict.fromkeys(providers, 0.0)
    recent = sending[-policy.expected_volume_days :]
    if recent:
        for h in recent:
            for provider, count in h.volume.items():
                key = provider if provider in expected else "other"
                expected[key] += count
        n = len(recent)
        for provider in providers:
            expected[provider] /= n
    return WindowStats(volume, peak, active, expected)


#: Rule 4 (v2): the pairs' peak demand is taken over this many days before D.
PEAK_DEMAND_DAYS = 7


def peak_demand(policy: Policy, days: list[DayHistory], day: date) -> dict[str, int]:
    """Per configured provider, the largest day's volume of the ``PEAK_DEMAND_DAYS`` before ``day``."""
    first = day - timedelta(days=PEAK_DEMAND_DAYS)
    peak = dict.fromkeys(policy.mailbox_providers, 0)
    for h in reversed(days):
        if h.day < first:
            break
        by_provider = dict.fromkeys(peak, 0)
        for provider, count in h.volume.items():
            by_provider[provider if provider in peak else "other"] += count
        for provider, count in by_provider.items():
            if count > peak[provider]:
                peak[provider] = count
    return peak
