"""The same-day breaker (SPEC §2 rule 11, v2): a pair whose provider is unhappy today
stops taking dedicated picks today, not tomorrow.

Two trips, both per (IP, mailbox provider) pair of a dedicated pool:

* ``hold``: today's outcomes (at least ``same_day_min_outcomes`` of them) cross a hold
  threshold (``store.reputation.judge``: the thresholds the next day's run holds or steps
  back at). The pair rests until the end of the UTC day; tomorrow's run then holds it (or
  steps it back) from the same outcomes.
* ``throttle``: a report says the provider throttled the pair (SMTP 421, 4.7.x). The pair
  rests ``throttle_pause_minutes``: a rate limit is a request to slow down, not a verdict
  on the day.

Pure: the time is an argument. The router's outcome path applies it as reports arrive
(``server/router/rests.py``), the simulator to each simulated day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal

from store.policy_settings import Policy
from store.reputation import Outcomes, judge

TripKind = Literal["hold", "throttle"]


@dataclass(frozen=True, slots=True)
class Trip:
    """A pair told to rest: no dedicated picks before ``until``."""

    kind: TripKind
    until: datetime
    #: Why, for the account's ``reason`` and the audit log.
    reason: str


def end_of_day(now: datetime) -> datetime:
    """The next UTC midnight after ``now``."""
    day = now.astimezone(UTC).date() + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=UTC)


def same_day_trip(policy: Policy, today: Outcomes, now: datetime) -> Trip | None:
    """A ``hold`` trip when today's outcomes so far are enough and cross a hold threshold."""
    if today.total < policy.same_day_min_outcomes:
        return None
    verdict, detail = judge(policy, today)
    if verdict == "advance":
        return None
    return Trip("hold", end_of_day(now), f"{detail} of {today.total:,} outcomes today")


def throttle_trip(policy: Policy, throttled: int, now: datetime) -> Trip | None:
    """A ``throttle`` trip when a report counts throttled deliveries for the pair."""
    if throttled <= 0:
        return None
    minutes = policy.throttle_pause_minutes
    return Trip(
        "throttle",
        now.astimezone(UTC) + timedelta(minutes=minutes),
        f"throttled by the provider ({throttled:,} × 421/4.7.x): rests {minutes} min",
    )


def describe(address: str, provider: str, kind: str, until: datetime, why: str) -> str:
    """One clause of an account's ``reason`` for a resting pair, e.g. ``same-day breaker:
    192.0.2.10 takes no google picks until the end of the UTC day (bounce 7.1% ≥ 5% of 412
    outcomes today)``."""
    when = "the end of the UTC day" if kind == "hold" else until.astimezone(UTC).strftime("%H:%M UTC")
    return f"same-day breaker: {address} takes no {provider} picks until {when} ({why})"
