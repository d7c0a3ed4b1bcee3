"""The same-day breaker's rule (``store/breaker.py``) and how a router's table applies
its rests (``RoutingTable.set_rests``, ``server/router/rests.resting_at``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.router.loader import apply_entry
from server.router.pick import DEDICATED, GENERAL, pick
from server.router.rests import resting_at
from server.router.table import RoutingTable, compile_region
from store.breaker import describe, end_of_day, same_day_trip, throttle_trip
from store.policy_settings import Policy
from store.reputation import Outcomes
from store.routing_entry import AccountRoute, DedicatedIP, ManagementType, ProviderRoute, RegionRoute

NOW = datetime(2026, 12, 1, 14, 5, tzinfo=UTC)
POLICY = Policy()


def test_a_hold_trip_needs_same_day_min_outcomes_and_lasts_until_midnight_utc() -> None:
    bouncing = Outcomes(delivered=180, bounced=19)  # 199 outcomes, 9.5% bounced
    assert same_day_trip(POLICY, bouncing, NOW) is None
    trip = same_day_trip(POLICY, Outcomes(delivered=180, bounced=20), NOW)
    assert trip is not None
    assert (trip.kind, trip.until) == ("hold", datetime(2026, 12, 2, tzinfo=UTC))
    assert trip.reason == "bounce 10% ≥ 10% of 200 outcomes today"
    assert same_day_trip(POLICY, Outcomes(delivered=1000, bounced=10), NOW) is None  # 1%: fine


@pytest.mark.parametrize(
    ("outcomes", "detail"),
    [
        (Outcomes(delivered=1000, complained=1), "complaint 0.1% ≥ 0.1%"),
        (Outcomes(delivered=700, deferred=300), "deferral 30% ≥ 20%"),
    ],
)
def test_every_hold_threshold_trips(outcomes: Outcomes, detail: str) -> None:
    trip = same_day_trip(POLICY, outcomes, NOW)
    assert trip is not None and trip.reason.startswith(detail)


def test_throttling_is_no_verdict_on_the_day() -> None:
    """Throttling rests a pair for throttle_pause_minutes only (issue 15): a day of many
    421s neither trips the day-long hold nor counts toward any rate."""
    assert same_day_trip(POLICY, Outcomes(delivered=300, throttled=5000), NOW) is None


def test_the_minimum_is_a_setting() -> None:
    few = Outcomes(delivered=9, bounced=1)
    assert same_day_trip(POLICY, few, NOW) is None
    assert same_day_trip(Policy(same_day_min_outcomes=10), few, NOW) is not None


def test_a_throttle_rests_throttle_pause_minutes() -> None:
    assert throttle_trip(POLICY, 0, NOW) is None
    trip = throttle_trip(Policy(throttle_pause_minutes=15), 3, NOW)
    assert trip is not None
    assert (trip.kind, trip.until) == ("throttle", NOW + timedelta(minutes=15))
    assert describe("192.0.2.9", "yahoo", trip.kind, trip.until, trip.reason) == (
        "same-day breaker: 192.0.2.9 takes no yahoo picks until 14:20 UTC "
        "(throttled by the provider (3 × 421/4.7.x): rests 15 min)"
    )


def test_end_of_day_is_the_next_utc_midnight_whatever_the_zone() -> None:
    late = datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC)
    assert end_of_day(late) == datetime(2026, 12, 2, tzinfo=UTC)
    assert end_of_day(late.astimezone(ZoneInfo("Asia/Tokyo"))) == end_of_day(late)


def _table(management_type: ManagementType = "dedicated") -> RoutingTable:
    table = RoutingTable()
    route = ProviderRoute(1.0, (DedicatedIP("198.51.100.1", 0.5, None), DedicatedIP("198.51.100.2", 0.5, None)))
    entry = AccountRoute(
        "acme", "us-east", management_type, date(2026, 12, 1), "pool-acme", {"google": route, "other": route}
    )
    apply_entry(table, "account", "acme", 1, entry.to_json())
    region = RegionRoute("us-east", "general:us-east", ("192.0.2.1",))
    table.regions["us-east"] = compile_region(region, 1)
    return table


def _ips(table: RoutingTable, provider: str) -> set[str]:
    account, region = table.accounts["acme"], table.regions["us-east"]
    full = set()
    for k in range(0, 2**64, 2**58):
        choice = pick(account, region, "us-east", provider, 0.0, k, lambda a, p, limit, b: limit > 0)
        full.add((choice.ip, choice.pool_type, choice.overflow))
    return {ip for ip, _, _ in full}


def test_a_resting_pair_takes_no_picks_and_comes_back_when_its_rest_ends() -> None:
    table = _table()
    assert _ips(table, "google") == {"198.51.100.1", "198.51.100.2"}
    rests = [("acme", "198.51.100.1", "google", NOW + timedelta(minutes=60))]
    assert table.set_rests(resting_at(rests, NOW)) == ["acme"]
    assert _ips(table, "google") == {"198.51.100.2"}  # Dedicated: inside its pool
    assert _ips(table, "yahoo") == {"198.51.100.1", "198.51.100.2"}  # the fallback route: another provider
    # An hour later (also without PostgreSQL: the loader expires rests from what it read).
    assert table.set_rests(resting_at(rests, NOW + timedelta(minutes=61))) == ["acme"]
    assert _ips(table, "google") == {"198.51.100.1", "198.51.100.2"}
    assert table.set_rests(resting_at(rests, NOW + timedelta(minutes=62))) == []


def test_in_transition_a_resting_pairs_mail_goes_to_the_shared_pool_as_overflow() -> None:
    table = _table("transition")
    table.set_rests(resting_at([("acme", "198.51.100.2", "google", NOW + timedelta(hours=1))], NOW))
    account, region = table.accounts["acme"], table.regions["us-east"]
    seen = {
        pick(account, region, "us-east", "google", 0.0, k, lambda a, p, limit, b: limit > 0)[:4]
        for k in range(0, 2**64, 2**58)
    }
    assert {(ip, pool, overflow) for ip, _, pool, overflow in seen} == {
        ("198.51.100.1", DEDICATED, False),
        ("192.0.2.1", GENERAL, True),
    }


def test_an_entry_loaded_while_a_pair_rests_is_compiled_resting() -> None:
    table = RoutingTable()
    table.set_rests(resting_at([("acme", "198.51.100.1", "google", NOW + timedelta(hours=1))], NOW))
    loaded = _table()  # the same entry, loaded into a table that already has the rest
    table.regions.update(loaded.regions)
    apply_entry(table, "account", "acme", 2, loaded.raw[("account", "acme")][1])
    assert _ips(table, "google") == {"198.51.100.2"}
