"""The pick with its counters: limits per (IP, provider), retries, repeats, the day boundary."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from sendingip.v1 import router_pb2, types_pb2
from server.router.engine import Engine, NotLoaded
from server.router.history_buffer import HistoryBuffer
from server.router.limits import SECONDS_PER_DAY, SECONDS_PER_HOUR, DailyLimits
from server.router.repeats import BUCKET_SECONDS, WINDOW_SECONDS
from server.router.table import RoutingTable, compile_account, compile_region
from store.routing_entry import AccountRoute, DedicatedIP, ProviderRoute, RegionRoute
from tests.support.requests import pick_request

DAY = 20_000  # a UTC day number
GENERAL = ("10.0.0.1", "10.0.0.2")


class Clock:
    def __init__(self) -> None:
        self.now = DAY * SECONDS_PER_DAY + 3600.0

    def __call__(self) -> float:
        return self.now


def _engine(
    management_type: str = "transition", limit: int | None = 100, share: float = 1.0, burst: float = 0.0
) -> tuple[Engine, Clock]:
    table = RoutingTable(loaded=True)
    table.regions["us-east"] = compile_region(RegionRoute("us-east", "general-us-east", GENERAL), 3)
    entry = AccountRoute(
        "acme",
        "us-east",
        management_type,  # type: ignore[arg-type]
        date(2024, 10, 5),
        "dedicated-acme",
        {"other": ProviderRoute(share, (DedicatedIP("198.51.100.1", 1.0, limit),))},
        hourly_burst=burst,
    )
    table.accounts["acme"] = compile_account(entry, 5)
    clock = Clock()
    engine = Engine(table, DailyLimits(DAY), HistoryBuffer(1000), default_region="us-east", clock=clock)
    return engine, clock


def _req(i: int, account: str = "acme", **kw: object) -> router_pb2.SelectSendingIPRequest:
    """Message ``i``, no recipient domain: the engine is given the provider."""
    return pick_request(f"<{i}@x>", account, "", **kw)


def test_a_warming_pair_carries_exactly_its_limit_then_overflows() -> None:
    engine, _ = _engine(limit=100)
    answers = [engine.select(_req(i), "google") for i in range(250)]
    dedicated = [a for a in answers if a.pool_type == types_pb2.POOL_TYPE_DEDICATED]
    assert len(dedicated) == 100 and not any(a.overflow for a in dedicated)
    assert all(a.overflow and a.ip in GENERAL for a in answers[100:])
    assert engine.overflows == 150
    # The limit is per provider: another provider's pair starts from zero.
    assert engine.select(_req(1000), "yahoo").ip == "198.51.100.1"


def test_a_leasing_router_carries_what_it_holds_of_the_limit() -> None:
    engine, _ = _engine(limit=100)
    engine.limits = DailyLimits(DAY, leased=True)  # the routers share the limit by leases
    engine.limits.pairs.held[("198.51.100.1", "google")] = 25
    answers = [engine.select(_req(i), "google") for i in range(60)]
    assert sum(a.pool_type == types_pb2.POOL_TYPE_DEDICATED for a in answers) == 25
    assert all(a.overflow for a in answers if a.pool_type == types_pb2.POOL_TYPE_GENERAL)


def test_counters_start_over_at_utc_midnight() -> None:
    engine, clock = _engine(limit=10)
    for i in range(20):
        engine.select(_req(i), "google")
    assert engine.select(_req(99), "google").overflow
    clock.now = (DAY + 1) * SECONDS_PER_DAY
    assert not engine.select(_req(99), "google").overflow
    days = {key[0] for key in engine.history.pending}
    assert days == {DAY, DAY + 1}


# -- pacing: the limit released by the UTC hour (SPEC rule 10) -----------------------------


def _dedicated_picks(engine: Engine, n: int, first: int = 0) -> int:
    answers = [engine.select(_req(i), "google") for i in range(first, first + n)]
    return sum(a.pool_type == types_pb2.POOL_TYPE_DEDICATED for a in answers)


def _at_hour(clock: Clock, hour: int) -> None:
    clock.now = DAY * SECONDS_PER_DAY + hour * SECONDS_PER_HOUR + 1800.0


def test_in_hour_0_a_pair_takes_its_hours_share_then_overflows() -> None:
    engine, clock = _engine(limit=2400, burst=2.0)
    _at_hour(clock, 0)
    assert _dedicated_picks(engine, 250) == 200  # ceil(2400 x 1 x 2 / 24)
    assert engine.overflows == 50 and engine.limits.over_limit == 0


def test_the_next_hour_releases_the_next_share_without_resetting_the_count() -> None:
    engine, clock = _engine(limit=2400, burst=2.0)
    _at_hour(clock, 0)
    assert _dedicated_picks(engine, 250) == 200
    _at_hour(clock, 1)
    assert _dedicated_picks(engine, 250, first=250) == 200  # 400 by the end of hour 1
    assert engine.limits.counts == {("198.51.100.1", "google"): 400}


def test_from_hour_11_the_whole_limit_is_released_at_burst_2() -> None:
    engine, clock = _engine(limit=2400, burst=2.0)
    _at_hour(clock, 11)
    assert _dedicated_picks(engine, 2500) == 2400


def test_a_leasing_router_never_passes_the_hours_share_whatever_it_holds() -> None:
    engine, clock = _engine(limit=2400, burst=2.0)
    engine.limits = DailyLimits(DAY, leased=True)
    engine.limits.pairs.held[("198.51.100.1", "google")] = 2400  # e.g. leased before a rest lowered it
    _at_hour(clock, 0)
    assert _dedicated_picks(engine, 250) == 200


def test_with_pacing_off_the_whole_limit_is_there_from_midnight() -> None:
    engine, clock = _engine(limit=2400, burst=0.0)
    _at_hour(clock, 0)
    assert _dedicated_picks(engine, 2500) == 2400


def test_a_pair_past_its_hours_share_with_nowhere_else_is_counted_over_limit() -> None:
    engine, clock = _engine(limit=2400, burst=2.0)
    del engine.table.regions["us-east"]
    _at_hour(clock, 0)
    assert _dedicated_picks(engine, 210) == 210  # never refused: the full pair carries it
    assert (engine.overflows, engine.limits.over_limit) == (0, 10)


# -- capacity: a dedicated IP carries at most ip_capacity a day over providers (rule 9) ------


def _capped(capacity: int | None, ips: tuple[DedicatedIP, ...], management_type: str = "dedicated") -> Engine:
    table = RoutingTable(loaded=True)
    table.regions["us-east"] = compile_region(RegionRoute("us-east", "general-us-east", GENERAL), 3)
    entry = AccountRoute(
        "acme",
        "us-east",
        management_type,  # type: ignore[arg-type]
        date(2024, 10, 5),
        "dedicated-acme",
        {"other": ProviderRoute(1.0, ips)},
        ip_capacity=capacity,
    )
    table.accounts["acme"] = compile_account(entry, 5)
    return Engine(table, DailyLimits(DAY), HistoryBuffer(1000), default_region="us-east", clock=Clock())


WARM = (DedicatedIP("198.51.100.1", 1.0, None),)
TWO_WARM = (DedicatedIP("198.51.100.1", 0.9, None), DedicatedIP("198.51.100.2", 0.1, None))


def _spread(engine: Engine, n: int, first: int = 0) -> list[router_pb2.SelectSendingIPResponse]:
    """``n`` picks spread over two providers: the capacity is summed over them."""
    return [engine.select(_req(i), ("google", "yahoo")[i % 2]) for i in range(first, first + n)]


def test_a_warm_ip_takes_its_capacity_then_the_rest_overflows_to_the_general_pool() -> None:
    engine = _capped(100, WARM)
    answers = _spread(engine, 250)
    assert all(a.ip == "198.51.100.1" and not a.overflow for a in answers[:100])
    assert all(a.ip in GENERAL and a.overflow for a in answers[100:])
    assert engine.overflows == 150 and engine.limits.over_limit == 0
    assert engine.limits.ip_counts == {"198.51.100.1": 100}


def test_the_pools_other_ip_takes_the_first_ips_overflow_then_the_general_pool() -> None:
    engine = _capped(100, TWO_WARM)
    answers = _spread(engine, 300)
    on = Counter(a.ip for a in answers if a.pool_type == types_pb2.POOL_TYPE_DEDICATED)
    assert on == {"198.51.100.1": 100, "198.51.100.2": 100}
    moved = [a for a in answers if a.pool_type == types_pb2.POOL_TYPE_DEDICATED and a.overflow]
    assert moved and {a.ip for a in moved} == {"198.51.100.2"}  # .1 is the full one (weight 0.9)
    assert sum(a.pool_type == types_pb2.POOL_TYPE_GENERAL for a in answers) == 100
    assert all(a.overflow for a in answers if a.pool_type == types_pb2.POOL_TYPE_GENERAL)


def test_a_leasing_router_carries_what_it_holds_of_the_capacity() -> None:
    engine = _capped(100, WARM)
    engine.limits = DailyLimits(DAY, leased=True)
    engine.limits.ips.held["198.51.100.1"] = 50
    assert sum(a.pool_type == types_pb2.POOL_TYPE_DEDICATED for a in _spread(engine, 200)) == 50


def test_a_warming_pair_gets_the_smaller_of_its_limit_and_what_the_ip_has_left() -> None:
    engine = _capped(50, (DedicatedIP("198.51.100.1", 1.0, 30),))
    google = [engine.select(_req(i), "google") for i in range(100)]
    assert sum(a.pool_type == types_pb2.POOL_TYPE_DEDICATED for a in google) == 30  # the pair's limit
    yahoo = [engine.select(_req(i), "yahoo") for i in range(100, 200)]
    assert sum(a.pool_type == types_pb2.POOL_TYPE_DEDICATED for a in yahoo) == 20  # the IP's 50 - 30
    assert engine.limits.ip_counts == {"198.51.100.1": 50}


def test_an_entry_without_capacity_leaves_its_warm_ips_uncapped() -> None:
    engine = _capped(None, WARM)
    assert all(a.ip == "198.51.100.1" and not a.overflow for a in _spread(engine, 1000))
    assert engine.limits.ip_counts == {} and engine.limits.counts == {}


def test_an_ip_at_capacity_with_nowhere_else_is_counted_over_limit_once() -> None:
    engine = _capped(100, (DedicatedIP("198.51.100.1", 1.0, 100),))
    del engine.table.regions["us-east"]
    assert all(a.ip == "198.51.100.1" for a in _spread(engine, 110))  # never refused
    assert (engine.overflows, engine.limits.over_limit) == (0, 10)


def test_a_resumed_router_counts_what_it_held_as_used_and_starts_over_at_midnight() -> None:
    limits = DailyLimits(DAY, leased=True)
    limits.resume(DAY, [("198.51.100.1", "google", 60), ("198.51.100.1", "", 41)])
    assert limits.counts == {("198.51.100.1", "google"): 60} and limits.ip_counts == {"198.51.100.1": 41}
    assert not limits.room("198.51.100.1", 100) and not limits.headroom("198.51.100.1", "google", 100, 0.0)
    limits.roll(DAY + 1)
    assert limits.ip_counts == {} and limits.pairs.held == {}


def test_a_retry_gets_the_same_answer_and_is_not_counted() -> None:
    engine, _ = _engine(limit=None, share=0.5)
    first = [engine.select(_req(i), "google") for i in range(200)]
    counted = dict(engine.history.pending)
    again = [engine.select(_req(i, retry=True), "google") for i in range(200)]
    assert again == first
    assert engine.history.pending == counted
    assert engine.retries == 200


def test_answers_are_deterministic_and_carry_the_entries_version() -> None:
    engine, _ = _engine(limit=None, share=0.5)
    a = engine.select(_req(1), "google")
    assert engine.select(_req(1), "google") == a
    assert a.routing_version == 5  # max(account entry 5, region entry 3)
    assert a.management_type == types_pb2.MANAGEMENT_TYPE_TRANSITION


def test_an_unknown_account_uses_its_region_and_is_created_on_flush() -> None:
    engine, _ = _engine()
    answer = engine.select(_req(1, account="newcomer", region="us-east"), "google")
    assert answer.ip in GENERAL and answer.management_type == types_pb2.MANAGEMENT_TYPE_GENERAL
    assert answer.routing_version == 3
    assert engine.history.new_accounts == {"newcomer": "us-east"}


def test_before_any_table_is_loaded_picks_are_unavailable() -> None:
    engine, _ = _engine()
    engine.table.loaded = False
    with pytest.raises(NotLoaded):
        engine.select(_req(1), "google")


def test_history_aggregates_per_day_account_ip_provider() -> None:
    engine, _ = _engine(limit=None, share=1.0)
    for i in range(30):
        engine.select(_req(i), "google")
    for i in range(5):
        engine.select(_req(i), "yahoo")
    assert engine.history.pending == {
        (DAY, "acme", "198.51.100.1", "google"): 30,
        (DAY, "acme", "198.51.100.1", "yahoo"): 5,
    }


# -- a pick is counted once (SPEC §3 v2) -------------------------------------------------


def _counted(engine: Engine) -> int:
    return sum(engine.history.pending.values())


def test_the_same_message_asked_again_gets_its_first_answer_and_is_not_counted_again() -> None:
    engine, _ = _engine(limit=10, share=1.0)
    answers = [engine.select(_req(i), "google") for i in range(10)]
    assert all(a.ip == "198.51.100.1" and not a.overflow for a in answers)  # the limit is used up
    # Asked again (a lost answer, a restarted queue runner): not an overflow pick now that
    # the pair is full, but the answer it had; the pair and the history count it once.
    assert engine.select(_req(9), "google") == answers[9]
    assert (_counted(engine), engine.limits.counts, engine.repeats) == (10, {("198.51.100.1", "google"): 10}, 1)
    assert engine.picks == [0, 0, 10]
    # A new message does overflow.
    assert engine.select(_req(10), "google").overflow


def test_a_repeat_keeps_its_answer_across_a_routing_update() -> None:
    engine, _ = _engine(limit=None, share=1.0)
    first = engine.select(_req(1), "google")
    engine.table.regions["us-east"] = compile_region(RegionRoute("us-east", "general-us-east", ("10.0.0.9",)), 9)
    engine.table.accounts["acme"] = compile_account(
        AccountRoute("acme", "us-east", "general", date(2024, 10, 5), None), 9
    )
    assert engine.select(_req(1), "google") == first
    assert engine.select(_req(2), "google").ip == "10.0.0.9"


def test_the_same_message_to_another_provider_is_another_delivery() -> None:
    engine, _ = _engine(limit=None, share=0.5)
    google = engine.select(_req(1), "google")
    yahoo = engine.select(_req(1), "yahoo")
    assert (google.mailbox_provider, yahoo.mailbox_provider) == ("google", "yahoo")
    engine.select(_req(1), "yahoo")
    assert (_counted(engine), engine.repeats) == (2, 1)


def test_a_retry_is_answered_afresh_and_never_remembered() -> None:
    engine, _ = _engine(limit=None, share=0.5)
    engine.select(_req(1, retry=True), "google")
    assert (_counted(engine), len(engine.recent)) == (0, 0)
    engine.select(_req(1), "google")
    engine.select(_req(1, retry=True), "google")
    assert (_counted(engine), engine.retries, engine.repeats) == (1, 2, 0)


def test_the_same_message_is_counted_again_once_ten_minutes_have_passed() -> None:
    engine, clock = _engine(limit=None, share=0.5)
    start = clock.now
    engine.select(_req(1), "google")
    clock.now = start + WINDOW_SECONDS - 1
    engine.select(_req(1), "google")
    assert (_counted(engine), engine.repeats) == (1, 1)
    clock.now = start + WINDOW_SECONDS + 2 * BUCKET_SECONDS
    engine.select(_req(1), "google")
    assert (_counted(engine), engine.repeats) == (2, 1)


def test_a_steady_stream_of_picks_is_remembered_for_ten_minutes_only() -> None:
    engine, clock = _engine(limit=None, share=0.5)
    start = clock.now
    for second in range(3600):  # an hour at one pick a second, then the first of the last 10 minutes again
        clock.now = start + second
        engine.select(_req(second), "google")
        assert len(engine.recent) <= WINDOW_SECONDS + 2 * BUCKET_SECONDS + 1
    engine.select(_req(3600 - int(WINDOW_SECONDS) + 1), "google")
    engine.select(_req(100), "google")
    assert (_counted(engine), engine.repeats) == (3601, 1)


def test_the_window_holds_at_most_its_bound_and_forgets_the_oldest_first() -> None:
    table = _engine()[0].table
    history = HistoryBuffer(1000)
    engine = Engine(table, DailyLimits(DAY), history, default_region="us-east", clock=Clock(), repeat_window_picks=100)
    for i in range(150):
        engine.select(_req(i), "google")
    assert (len(engine.recent), engine.recent.forgotten_early) == (100, 50)
    engine.select(_req(149), "google")  # remembered: a repeat
    engine.select(_req(0), "google")  # forgotten early: counted again
    assert (_counted(engine), engine.repeats) == (151, 1)
