"""The simulator's v2 rules: hourly pacing (10), the same-day breaker (11) and general-pool
ramp-in (12), each with its example scenario, and the chart's marks and CSV columns.

The scenarios' stories are asserted on what a user sees (the timeline, the CSV), the
placement of a day on what each pair carried by each hour.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cli.main import main
from store.hourly_pacing import paced_limit
from store.routing_entry import AccountRoute, DedicatedIP, ManagementType, ProviderRoute
from workers.simulate.allocate import allocate
from workers.simulate.compare import RULES, with_rules
from workers.simulate.rests import rested_fractions
from workers.simulate.scenario import ScenarioError, load_scenario, parse_scenario
from workers.simulate.timeline import Result, days_to_dedicated, run

SCENARIOS = Path(__file__).resolve().parents[2] / "workers" / "scenarios"
#: 80% of the day in the first two UTC hours, the rest evenly.
FRONT = (0.4, 0.4) + (0.2 / 22,) * 22


def _route(management: ManagementType, limits: tuple[int | None, ...], burst: float = 2.0) -> AccountRoute:
    weight = 1.0 / len(limits)
    ips = tuple(DedicatedIP(f"10.0.0.{i + 1}", weight, limit) for i, limit in enumerate(limits))
    providers = {p: ProviderRoute(1.0, ips) for p in ("google", "other")}
    return AccountRoute("a", "r", management, date(2025, 1, 1), "pool-a", providers, burst, 2_500_000)


# -- rule 10: hourly pacing -------------------------------------------------------------


@pytest.mark.parametrize("management", ["transition", "dedicated"])
def test_front_loaded_day_never_puts_a_pair_over_its_paced_limit(management: ManagementType) -> None:
    route = _route(management, (1_000, 5_000))
    by_provider = {"google": 8_000, "other": 2_000}
    placed = allocate(route, by_provider, True, profile=FRONT)
    assert len(placed.by_hour) == 24
    for hour, sends in enumerate(placed.by_hour):
        for provider_route in route.providers.values():
            for ip in provider_route.ips:
                assert ip.daily_limit is not None
                for provider in by_provider:
                    assert sends.get((ip.address, provider), 0) <= paced_limit(ip.daily_limit, hour, 2.0)
    assert placed.over_limit == 0
    # The same day sent evenly fills the limits and overflows less.
    flat = allocate(route, by_provider, True)
    assert placed.overflow > flat.overflow
    assert sum(placed.sends.values()) + placed.overflow == sum(flat.sends.values()) + flat.overflow == 10_000


def test_pacing_off_or_a_flat_day_places_as_one_step() -> None:
    route = _route("transition", (1_000, 5_000))
    by_provider = {"google": 8_000, "other": 2_000}
    one_step = allocate(route, by_provider, True, hourly=False)
    assert one_step.by_hour == []
    # A flat day placed hour by hour carries the same per pair: pacing at 2x never binds.
    by_hour = allocate(route, by_provider, True, hourly=True)
    assert by_hour.sends == one_step.sends and by_hour.overflow == one_step.overflow
    # hourly_burst 0 (off): even a front-loaded day fills the whole limit.
    unpaced = allocate(_route("transition", (1_000, 5_000), burst=0.0), by_provider, True, profile=FRONT)
    assert unpaced.sends == one_step.sends


def test_with_no_general_pool_the_paced_excess_is_counted_over_the_limit() -> None:
    placed = allocate(_route("transition", (1_000,)), {"google": 3_000}, False, profile=FRONT)
    assert placed.overflow == 0
    assert placed.over_limit > 0
    assert sum(placed.sends.values()) == 3_000


def test_hourly_pacing_scenario_front_loaded_sender_overflows_more() -> None:
    scenario = load_scenario(SCENARIOS / "hourly-pacing.toml")
    for rules in RULES:
        result = run(with_rules(scenario, rules))
        flat, front = result.timelines["flat"], result.timelines["front"]
        assert sum(front.over_limit) == sum(flat.over_limit) == 0
        assert sum(front.overflow) / sum(front.volume) > 10 * sum(flat.overflow) / sum(flat.volume)
    # v2: "front" carries about 2/6 of its limits a day (hours 0-1 paced, the rest small),
    # below advance_fraction: its pairs hold and it stays in Transition (SPEC rules 2 x 10).
    assert result.timelines["flat"].management[-1] == "dedicated"
    assert result.timelines["front"].management[-1] == "transition"
    # 2/24 x 2 of the limit in hours 0-1 (paced) and the remaining 20% of the plan later: ~37%.
    carried = re.search(r"google: carried ([0-9.]+)% of 200 yesterday; holds", result.timelines["front"].reasons[-1])
    assert carried is not None and 30 < float(carried.group(1)) < 45
    # Pacing off: the front-loaded day is placed like the flat one and warms up the same way.
    unpaced = run(dataclasses.replace(scenario, policy=dataclasses.replace(scenario.policy, hourly_burst=0.0)))
    front = unpaced.timelines["front"]
    assert days_to_dedicated(front) == days_to_dedicated(unpaced.timelines["flat"]) == 7
    assert sum(front.overflow) / sum(front.volume) < 0.001


# -- rule 11: same-day breaker ----------------------------------------------------------


@pytest.fixture(scope="module")
def breaker() -> Result:
    return run(load_scenario(SCENARIOS / "same-day-breaker.toml"))


def test_bounce_burst_trips_the_pair_after_same_day_min_outcomes(breaker: Result) -> None:
    line = breaker.timelines["google-bounces"]
    trips = [(i, p) for i, kind, p in line.marks if kind == "trip"]
    assert trips == [(12, "google"), (13, "google"), (14, "google")]
    holds = [(i, p) for i, kind, p in line.marks if kind == "hold"]
    assert holds == [(13, "google"), (14, "google"), (15, "google")]  # the next day's run, as before
    assert not breaker.timelines["clean"].marks
    text = next(t for i, t in line.events if i == 12 and "breaker" in t)
    assert "takes no google picks until the end of the UTC day (bounce 8% ≥ 5% of 200 outcomes today)" in text
    # The tripped day's rest overflowed: far more than the clean twin's on the same day.
    clean = breaker.timelines["clean"]
    assert line.overflow[12] > clean.overflow[12] + 3_000


def test_tripped_pair_carries_only_what_it_sent_before_the_trip() -> None:
    scenario = load_scenario(SCENARIOS / "same-day-breaker.toml", days=14)
    result = run(scenario)
    sim = next(a for a in result.world.accounts if a.spec.account_id == "google-bounces")
    day = scenario.day(12)
    history = next(h for h in sim.window if h.day == day)
    google = [pair.sent for (_, provider), pair in history.pairs.items() if provider == "google"]
    assert google == [scenario.policy.same_day_min_outcomes]
    others = [pair.sent for (_, provider), pair in history.pairs.items() if provider != "google"]
    assert all(n > scenario.policy.same_day_min_outcomes for n in others)


def test_complaint_burst_when_dedicated_trips_every_provider_then_steps_back(breaker: Result) -> None:
    line = breaker.timelines["complaints"]
    assert line.management[30] == "dedicated"
    assert sorted(p for i, kind, p in line.marks if kind == "trip") == ["google", "microsoft", "other"]
    assert sorted(p for i, kind, p in line.marks if i == 31 and kind == "step_back") == ["google", "microsoft", "other"]
    # Dedicated: the rest of the day goes to the shared pool (no IP of the pool has room).
    assert line.dedicated_sent[30] == 3 * 200
    assert line.overflow[30] == line.volume[30] - 600


def test_throttle_rests_the_pair_for_throttle_pause_minutes() -> None:
    start = datetime(2025, 1, 1, 9, tzinfo=UTC)
    fractions = rested_fractions(start, datetime(2025, 1, 1, 10, 30, tzinfo=UTC))
    assert fractions[9] == 1.0 and fractions[10] == 0.5 and sum(fractions) == 1.5
    assert sum(rested_fractions(datetime(2025, 1, 1, 23, tzinfo=UTC), datetime(2025, 1, 2, 2, tzinfo=UTC))) == 1.0
    result = run(load_scenario(SCENARIOS / "throttle-pause.toml"))
    line, calm = result.timelines["throttled"], result.timelines["calm"]
    assert [(i, kind, p) for i, kind, p in line.marks] == [
        (8, "throttle", "microsoft"),
        (9, "throttle", "microsoft"),
        (25, "throttle", "microsoft"),
    ]
    assert line.management[25] == "dedicated"
    # 180 of 1,440 minutes: an eighth of the day's microsoft mail (40%) goes to the shared pool.
    expected = line.volume[25] * 0.4 / 8
    assert line.overflow[25] == pytest.approx(expected, rel=0.05)
    assert calm.overflow[25] == 0
    # Each throttled day in Transition rested the pair below advance_fraction: a day later each.
    assert days_to_dedicated(line) == (days_to_dedicated(calm) or 0) + 2
    assert "until 17:00 UTC" in next(t for i, t in line.events if i == 25 and "throttled" in t)


# -- rule 12: general-pool IPs ramp in ---------------------------------------------------


def test_general_ip_added_mid_scenario_ramps_in_along_the_schedule() -> None:
    scenario = load_scenario(SCENARIOS / "general-ramp.toml")
    pool = run(scenario).general["us-east"]
    added = "198.51.100.82"
    assert pool.added[added] == 10
    shares = pool.share_percent[added]
    stages = pool.stages[added]
    assert stages[10:13] == [0, 1, 2]  # one stage a day it carried traffic
    schedule = scenario.policy.warmup_schedule
    one_message = 100 / pool.sent[10]
    assert shares[10] == pytest.approx(100 * schedule[0] / (2 * schedule[-1] + schedule[0]), abs=one_message)
    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(shares[10:40]))  # grows until warm
    assert stages[40] is None and shares[40] == pytest.approx(100 / 3, rel=0.01)  # warm: an equal share
    assert pool.share_percent["198.51.100.83"][40] < 0.01
    assert pool.share_percent["198.51.100.80"][-1] == pytest.approx(25.0, rel=0.01)


def test_v1_general_ip_takes_an_equal_share_from_its_first_day() -> None:
    pool = run(with_rules(load_scenario(SCENARIOS / "general-ramp.toml", days=12), "v1")).general["us-east"]
    assert pool.share_percent["198.51.100.82"][10] == pytest.approx(100 / 3, rel=0.01)


# -- rule 9: an IP's daily capacity ------------------------------------------------------


def test_an_ip_stops_at_its_capacity_and_a_second_ip_takes_the_rest() -> None:
    scenario = load_scenario(SCENARIOS / "ip-capacity.toml", days=30)
    result = run(scenario)
    line = result.timelines["growing"]
    sim = result.world.accounts[0]
    capacity = scenario.policy.ip_daily_capacity
    loads: dict[tuple[date, str], int] = {}
    for history in sim.window:
        for (address, _), pair in history.pairs.items():
            loads[(history.day, address)] = loads.get((history.day, address), 0) + pair.sent
    assert max(loads.values()) == capacity  # reached, never passed
    capped = [i for i in range(30) if loads.get((scenario.day(i), "203.0.113.97")) == capacity]
    assert capped and all(line.overflow[i] > 0 for i in capped if line.management[i] == "transition")
    assert line.ip_count[-1] == 2 and line.management[-1] == "dedicated"
    went = line.first("dedicated")
    assert went is not None and sum(line.overflow[went:]) == 0 and sum(line.over_limit) == 0


# -- every example: nothing over a limit where a shared pool exists --------------------


@pytest.mark.parametrize(
    "name",
    sorted(p.stem for p in SCENARIOS.glob("*.toml") if p.stem != "scale-1000"),  # scale-1000: docs/policy.md
)
def test_no_mail_over_a_limit_in_any_example_with_a_general_pool(name: str) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.toml")
    assert all(region.general_pool for region in scenario.regions)
    for rules in RULES:
        result = run(with_rules(scenario, rules))
        assert sum(sum(line.over_limit) for line in result.timelines.values()) == 0


# -- output ------------------------------------------------------------------------------


def test_csv_has_the_marks_and_the_chart_draws_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "breaker"
    args = ["--out", str(out), "--quiet", "--days", "17", "--chart-accounts", "2"]
    assert main(["simulate", str(SCENARIOS / "same-day-breaker.toml"), *args]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "  same-day breaker: 3 pair-days held for the rest of the day, 0 throttle pauses" in printed
    with (out / "timeline.csv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["account_id"] == "google-bounces"]
    assert [int(r["breaker_trips"]) for r in rows[11:16]] == [0, 1, 1, 1, 0]
    assert [int(r["holds"]) for r in rows[11:16]] == [0, 0, 1, 1, 1]
    assert all(r["step_backs"] == "0" and r["throttle_pauses"] == "0" for r in rows)
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ramp = tmp_path / "ramp"
    args = ["--out", str(ramp), "--quiet", "--days", "15", "--chart-accounts", "1"]
    assert main(["simulate", str(SCENARIOS / "general-ramp.toml"), *args]) == 0
    assert "  general pool us-east: 198.51.100.82 added day 10, ramping" in capsys.readouterr().out.splitlines()
    assert (ramp / "chart.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"hourly_profile": [1] * 23}, "accounts[0].hourly_profile: must be a list of 24 numbers"),
        ({"hourly_profile": [0] * 24}, "accounts[0].hourly_profile: at least one hour must be > 0"),
        ({"throttles": [{"day": 1, "hour": 24, "provider": "google"}]}, "accounts[0].throttles[0].hour: must be"),
        ({"throttles": [{"day": 1, "provider": "aol"}]}, "accounts[0].throttles[0].provider: unknown mailbox"),
    ],
)
def test_bad_v2_fields_name_the_field(patch: dict[str, object], message: str) -> None:
    raw = {
        "regions": [{"name": "r", "general_pool": ["192.0.2.1"]}],
        "accounts": [{"id": "a", "volume": {"pattern": "steady", "daily": 1}, **patch}],
    }
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(raw)


def test_an_added_general_ip_listed_twice_is_refused() -> None:
    raw = {
        "regions": [{"name": "r", "general_pool": ["192.0.2.1"], "add_general": [{"day": 3, "ips": ["192.0.2.1"]}]}],
        "accounts": [{"id": "a", "volume": {"pattern": "steady", "daily": 1}}],
    }
    with pytest.raises(ScenarioError, match=r"add_general\[0\]\.ips: 192\.0\.2\.1 is already listed"):
        parse_scenario(raw)


# -- rule 13: a provider new to a Dedicated account ------------------------------------


def test_a_provider_new_to_a_dedicated_account_goes_shared_then_warms_from_stage_0() -> None:
    line = run(load_scenario(SCENARIOS / "new-provider.toml")).timelines["shop"]
    first = 25  # providers_from's day: a fifth of the mail goes to yahoo
    assert line.management[first - 1] == "dedicated"
    assert "no traffic yet for yahoo" in line.reasons[first]
    # That day the shared pool takes yahoo's mail, not as overflow (rule 13).
    assert line.overflow[first] == 0
    assert line.volume[first] - line.dedicated_sent[first] > 0.15 * line.volume[first]
    # The next run gives yahoo's pairs stage 0 and says so; then they climb.
    assert "new traffic for yahoo: its dedicated pairs warm up from stage 0" in line.reasons[first + 1]
    yahoo = line.stages["yahoo"]
    assert yahoo[first + 1] == 0
    assert (yahoo[first + 5] or 0) >= 3
    assert line.over_limit == [0] * len(line.over_limit)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ([{"day": 99, "providers": {"google": 1.0}}], r"providers_from\[0\]\.day: must be below"),
        ([{"day": 3, "providers": {"aol": 1.0}}], r"providers_from\[0\]\.providers\.aol: unknown mailbox provider"),
        ([{"day": 3, "providers": {"google": 0.5}}], r"providers_from\[0\]\.providers: fractions must sum to 1"),
        (
            [{"day": 3, "providers": {"google": 1.0}}, {"day": 3, "providers": {"other": 1.0}}],
            r"providers_from\[1\]\.day: must be after the previous change's day 3",
        ),
        ([{"day": 3}], r"providers_from\[0\]\.providers: missing"),
    ],
)
def test_bad_providers_from_names_the_field(change: list[dict[str, object]], message: str) -> None:
    raw = {
        "days": 10,
        "regions": [{"name": "r", "general_pool": ["192.0.2.1"]}],
        "accounts": [{"id": "a", "volume": {"pattern": "steady", "daily": 1}, "providers_from": change}],
    }
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(raw)
