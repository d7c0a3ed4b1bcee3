"""The same-day breaker (SPEC rule 11) in the simulator: which pairs rest today, and how much.

The router trips a pair from the outcome reports as they arrive (``store.breaker``); the
simulator knows a day's outcome rates up front, so it asks the same functions what the
reports would make them do:

* ``hold``: outcomes come in proportion to the mail sent, so a pair whose rates cross a
  hold threshold trips as soon as it has ``same_day_min_outcomes`` outcomes, that is after
  sending that many messages. Its cap for the day is that number: it carries what it sent
  before the trip, and the rest of its share overflows (``store.overflow``).
* ``throttle``: a scenario's throttle event (provider, day, UTC hour) rests the account's
  pairs of that provider for ``throttle_pause_minutes`` from the start of that hour; the
  part of each hour inside the rest is given back (the day is then placed hour by hour).
  A rest that would run past midnight ends with the day (a new day starts with fresh
  counters in the router as well).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from store.breaker import Trip, describe, same_day_trip, throttle_trip
from store.hourly_pacing import HOURS_PER_DAY
from store.policy_settings import Policy
from store.reputation import Outcomes
from workers.simulate.allocate import Key

#: (bounce, complaint, deferral) rates of one account and provider on one day.
Rates = tuple[float, float, float]


def day_outcomes(sent: int, rates: Rates) -> Outcomes:
    """The outcomes ``rates`` give ``sent`` messages (the scenario's reports)."""
    bounce, complaint, deferral = rates
    bounced = round(sent * bounce)
    deferred = min(sent - bounced, round(sent * deferral))
    delivered = sent - bounced - deferred
    complained = min(delivered, round(sent * complaint))
    return Outcomes(delivered, deferred, bounced, complained)


@dataclass(slots=True)
class DayRests:
    """The breaker's view of one account's day, before its mail is placed."""

    #: Pair → the most it carries today (a hold trip at ``same_day_min_outcomes``).
    caps: dict[Key, int] = field(default_factory=dict)
    #: Pair → the fraction of each UTC hour it rests (24 values), after a throttle.
    rested: dict[Key, list[float]] = field(default_factory=dict)
    #: What the account's reason says of each capped pair once it trips (``describe``).
    reasons: dict[Key, str] = field(default_factory=dict)
    #: The day's throttles that rested a pair: (provider, UTC hour, what the account's
    #: reason says, ``store.breaker.describe``).
    throttles: list[tuple[str, int, str]] = field(default_factory=list)


def hold_caps(
    policy: Policy,
    day: date,
    pairs: Iterable[Key],
    rates: Mapping[str, Rates],
    into: DayRests,
    verdicts: dict[Rates, Trip | None] | None = None,
) -> None:
    """Cap each pair whose day's outcomes would trip the breaker once it has enough of them.
    ``verdicts``: the day's trips by rates so far (most accounts share their rates: the
    simulator asks ``same_day_trip`` once a day for them all)."""
    n = policy.same_day_min_outcomes
    now = datetime.combine(day, time(0), tzinfo=UTC)
    seen = {} if verdicts is None else verdicts
    for key in pairs:
        provider_rates = rates[key[1]]
        if provider_rates not in seen:
            seen[provider_rates] = same_day_trip(policy, day_outcomes(n, provider_rates), now)
        trip = seen[provider_rates]
        if trip is not None:
            into.caps[key] = n
            into.reasons[key] = describe(key[0], key[1], trip.kind, trip.until, trip.reason)


def throttle_rests(policy: Policy, day: date, hour: int, provider: str, pairs: Iterable[Key], into: DayRests) -> None:
    """Rest the pairs of ``provider`` from the start of ``hour`` as ``store.breaker`` says."""
    start = datetime.combine(day, time(hour), tzinfo=UTC)
    trip = throttle_trip(policy, 1, start)
    if trip is None:
        return
    fractions = rested_fractions(start, trip.until)
    addresses = []
    for key in pairs:
        if key[1] != provider:
            continue
        have = into.rested.setdefault(key, [0.0] * HOURS_PER_DAY)
        into.rested[key] = [max(a, b) for a, b in zip(have, fractions, strict=True)]
        addresses.append(key[0])
    if addresses:
        text = describe(", ".join(addresses), provider, trip.kind, trip.until, trip.reason)
        into.throttles.append((provider, hour, text))


def rested_fractions(start: datetime, until: datetime) -> list[float]:
    """For each UTC hour of ``start``'s day, the fraction of it inside ``[start, until)``."""
    midnight = datetime.combine(start.date(), time(0), tzinfo=UTC)
    out = []
    for hour in range(HOURS_PER_DAY):
        lo = max(start, midnight + timedelta(hours=hour))
        hi = min(until, midnight + timedelta(hours=hour + 1))
        out.append(max(0.0, (hi - lo) / timedelta(hours=1)))
    return out
