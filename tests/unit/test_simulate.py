"""``sendingip simulate``: the example scenarios tell the seed's story, and bad input fails cleanly.

The scenarios run under the v2 warm-up rules (the default); the v1 stories are checked
too, on the same scenarios with ``warmup_rules = "v1"``.
"""

from __future__ import annotations

import csv
import dataclasses
from datetime import date
from pathlib import Path

import pytest

from cli.main import main
from store.routing_entry import AccountRoute, DedicatedIP, ManagementType, ProviderRoute
from workers.simulate.allocate import Sends
from workers.simulate.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
from workers.simulate.timeline import Result, Timeline, days_to_dedicated, run
from workers.simulate.world import allocate

SCENARIOS = Path(__file__).resolve().parents[2] / "workers" / "scenarios"


def v1(scenario: Scenario) -> Scenario:
    return dataclasses.replace(scenario, policy=dataclasses.replace(scenario.policy, warmup_rules="v1"))


@pytest.fixture(scope="module")
def growing() -> Result:
    return run(load_scenario(SCENARIOS / "growing.toml"))


@pytest.fixture(scope="module")
def growing_v1() -> Result:
    return run(v1(load_scenario(SCENARIOS / "growing.toml")))


def _moves(line: Timeline) -> list[str]:
    return [text for _, text in line.events if "→" in text]


def test_growing_account_goes_dedicated_once_its_limits_cover_its_demand(growing: Result) -> None:
    line = growing.timelines["growing"]
    assert _moves(line)[:2] == ["general → transition", "transition → dedicated"]
    took = days_to_dedicated(line)
    assert took is not None and 4 <= took <= 10  # ~16k a day: stage 6 (20,000) covers google
    start = line.first("transition")
    assert start is not None
    assert line.dedicated_share_percent[start] < 20
    assert line.dedicated_share_percent[start + took] == pytest.approx(100.0)
    end = start + took
    assert line.reasons[end].startswith("the dedicated limits cover the demand of google")


def test_v1_growing_account_goes_general_transition_dedicated_in_about_30_sending_days(growing_v1: Result) -> None:
    line = growing_v1.timelines["growing"]
    assert _moves(line)[:2] == ["general → transition", "transition → dedicated"]
    took = days_to_dedicated(line)
    assert took is not None and 28 <= took <= 32
    start = line.first("transition")
    assert start is not None
    # The dedicated share ramps up from a few percent to all of it.
    assert line.dedicated_share_percent[start] < 20
    assert line.dedicated_share_percent[start + took] == pytest.approx(100.0)


def _second_ip(line: Timeline) -> tuple[int, list[str]]:
    """The day the second IP joined, and its "In Progress" clauses of the days after."""
    assert line.ip_count[-1] == 2
    added = line.ip_count.index(2)
    assert line.management[added] == "dedicated"  # stays Dedicated: the new IP ramps inside the pool
    assert all(m == "dedicated" for m in line.management[added:])
    assert "Active" not in line.reasons[added]
    address = next(text.split()[1] for i, text in line.events if i == added and text.startswith("assigned"))
    clauses = (part for r in line.reasons[added + 1 : added + 40] for part in r.split("; "))
    return added, [c for c in clauses if c.startswith(f"{address} In Progress: ")]


def _shares(warming: list[str]) -> list[float]:
    return [float(r.split("planned share ")[1].removesuffix("%")) for r in warming]


def test_growing_account_later_gains_an_ip_that_ramps_the_same_way(growing: Result) -> None:
    _, warming = _second_ip(growing.timelines["growing"])
    # In Progress until the pool covers the demand it was added for (not the whole schedule).
    assert 10 <= len(warming) <= 25
    shares = _shares(warming)
    assert shares[-1] > shares[0]


def test_v1_growing_account_later_gains_an_ip_that_ramps_the_same_way(growing_v1: Result) -> None:
    _, warming = _second_ip(growing_v1.timelines["growing"])
    assert 25 <= len(warming) <= 32  # about 30 sending days to warm the second IP
    shares = _shares(warming)
    assert shares[-1] > shares[0]


def test_declining_account_returns_to_general_and_its_ip_goes_back_through_quarantine(growing: Result) -> None:
    line = growing.timelines["declining"]
    assert _moves(line) == ["general → transition", "transition → dedicated", "dedicated → general"]
    back = next(i for i, text in line.events if text == "dedicated → general")
    assert "back to General, draining 1 IP" in line.reasons[back]
    assert line.draining_count[back] == 1
    quarantined = [text for _, text in line.events if "to quarantine until" in text]
    assert len(quarantined) == 1
    address = quarantined[0].split()[0]
    assert address in growing.world.inventory["us-east"]  # 30 days later it is free again
    assert growing.world.returned_to_inventory == 1
    assert growing.timelines["small"].management[-1] == "general"


@pytest.mark.parametrize(("rules", "clean"), [("v2", 7), ("v1", 30)])
def test_bounce_spike_holds_and_steps_back_and_pause_loses_nothing(rules: str, clean: int) -> None:
    scenario = load_scenario(SCENARIOS / "bounce-spike.toml")
    result = run(v1(scenario) if rules == "v1" else scenario)
    took = {a: days_to_dedicated(result.timelines[a]) for a in ("clean", "spike", "paused")}
    assert took["clean"] == clean
    assert took["spike"] == clean + 3 + 2 * 1  # 3 held days; a step-back costs the day and a stage
    assert took["paused"] == clean + 15  # the 15 paused days do not count
    reasons = result.timelines["spike"].reasons
    assert any("holding warm-up of" in r and "bounce 7% ≥ 5%" in r for r in reasons)
    assert any("stepped back a stage: bounce 12" in r for r in reasons)
    line = result.timelines["paused"]
    assert all("paused by an operator" in line.reasons[i] for i in range(10, 25))
    assert line.dedicated_share_percent[24] == pytest.approx(line.dedicated_share_percent[10], abs=2)


def test_bursts_stay_general_and_weekends_hold_the_stages() -> None:
    result = run(load_scenario(SCENARIOS / "bursty-weekday.toml"))
    bursty = result.timelines["bursty"]
    assert set(bursty.management) == {"general"}
    assert any("active days < 8" in r for r in bursty.reasons)
    weekday = result.timelines["weekday"]
    start, end = weekday.first("transition"), weekday.first("dedicated")
    assert start is not None and end is not None
    sending = weekday.sending_days(start, end)
    assert 4 <= sending <= 10
    assert end - start > sending  # calendar days: weekends add to it
    sunday = next(i for i in range(start + 1, end) if weekday.days[i].weekday() == 6)
    assert "google: carried 0% of" in weekday.reasons[sunday]  # Saturday carried nothing: holds


def test_v1_bursts_stay_general_and_weekends_do_not_count() -> None:
    result = run(v1(load_scenario(SCENARIOS / "bursty-weekday.toml")))
    weekday = result.timelines["weekday"]
    start, end = weekday.first("transition"), weekday.first("dedicated")
    assert start is not None and end is not None
    assert weekday.sending_days(start, end) == 30
    assert end - start > 40  # calendar days: weekends add to it


def test_carried_volume_a_pair_that_sends_little_holds_and_limits_covering_demand_go_dedicated() -> None:
    result = run(load_scenario(SCENARIOS / "carried-volume.toml"))
    world = {sim.spec.account_id: sim for sim in result.world.accounts}
    steady, dip = result.timelines["steady"], result.timelines["dip"]
    took = days_to_dedicated(steady)
    assert took is not None and took <= 10  # not the 30 stages of the whole schedule
    stages = {p.provider: p.stage for p in world["steady"].pairs}
    assert stages["apple"] == 1  # 200 a day: 100% of stage 0, then 40% of stage 1 for good
    assert stages["google"] < 30
    assert steady.management[-1] == "dedicated"
    dipped = days_to_dedicated(dip)
    assert dipped is not None and dipped > took  # the quiet week held its stages
    assert any("google: carried" in r and "yesterday; holds" in r for r in dip.reasons[12:20])
    v1_result = run(v1(load_scenario(SCENARIOS / "carried-volume.toml")))
    assert days_to_dedicated(v1_result.timelines["steady"]) == 30


def test_provider_schedule_a_slower_microsoft_schedule_holds_transition_longer() -> None:
    scenario = load_scenario(SCENARIOS / "provider-schedule.toml")
    assert len(scenario.policy.schedule_for("microsoft")) == 20
    result = run(scenario)
    line = result.timelines["mixed"]
    took = days_to_dedicated(line)
    assert took is not None and 9 <= took <= 13
    stages = {p.provider: p.stage for p in result.world.accounts[0].pairs}
    assert stages["microsoft"] > stages["google"]  # its stages are smaller: it needs more of them
    assert stages["microsoft"] < len(scenario.policy.schedule_for("microsoft"))
    assert line.management[-1] == "dedicated"
    assert any("no traffic yet for yahoo, apple" in r for r in line.reasons)
    default = run(dataclasses.replace(scenario, policy=dataclasses.replace(scenario.policy, provider_schedules={})))
    faster = days_to_dedicated(default.timelines["mixed"])
    assert faster is not None and faster < took


def test_scale_in_and_an_empty_inventory() -> None:
    result = run(load_scenario(SCENARIOS / "steady-high.toml"))
    assert result.timelines["steady-high"].ip_count[-1] == 3
    shrinking = result.timelines["shrinking"]
    assert max(shrinking.ip_count) == 2 and shrinking.ip_count[-1] == 1
    drained = [i for i, text in shrinking.events if text.startswith("draining")]
    assert len(drained) == 1
    waiting = result.timelines["waiting"]
    assert any("inventory of eu-west has 0 free IPs; 1 needed" in r for r in waiting.reasons)
    start = waiting.first("transition")
    assert start is not None and start > drained[0]  # it got the IP shrinking gave back
    assert waiting.management[-1] == "dedicated"


def test_scale_scenario_parses_to_a_thousand_accounts() -> None:
    scenario = load_scenario(SCENARIOS / "scale-1000.toml", days=3)
    assert len(scenario.accounts) == 1000
    assert len(run(scenario).timelines) == 1000


def test_command_writes_csv_and_chart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(
        ["simulate", str(SCENARIOS / "growing.toml"), "--out", str(out), "--days", "40", "--chart-accounts", "2"]
    )
    assert code == 0
    with (out / "timeline.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 40
    first = rows[0]
    assert {"day", "account_id", "volume", "management_type", "share_google_percent", "ips", "reason"} <= set(first)
    transition = [r for r in rows if r["account_id"] == "declining" and r["management_type"] == "Transition"]
    assert transition and "In Progress" in transition[0]["ips"]
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "scenario growing: 3 accounts x 40 days" in printed
    assert "declining: Dedicated" in printed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("days = 10\n", "regions: must be a non-empty array of tables"),
        ("this is not toml", "not valid TOML"),
        ("[policy]\nscale_in_day = 3\n", "policy: unknown policy setting 'scale_in_day'"),
        ("[policy]\ngeneral_threshold_30d = 900000\n", "policy: general_threshold_30d must be <="),
        (
            '[[regions]]\nname = "r"\ninventory = ["1.2.3.x"]\n',
            "regions[0].inventory[0]: not an IPv4/IPv6 address: '1.2.3.x'",
        ),
        (
            '[[regions]]\nname = "r"\n[[accounts]]\nid = "a"\nvolume = { pattern = "wavy" }\n',
            "accounts[0].volume.pattern: must be one of steady, growing",
        ),
        (
            '[[regions]]\nname = "r"\n[[accounts]]\nid = "a"\nvolume = { pattern = "steady" }\n',
            "accounts[0].volume.daily: required",
        ),
        (
            '[[regions]]\nname = "r"\n[[accounts]]\nid = "a"\nproviders = { google = 0.5 }\n'
            'volume = { pattern = "steady", daily = 1 }\n',
            "accounts[0].providers: fractions must sum to 1, got 0.5",
        ),
        (
            '[[regions]]\nname = "r"\n[[accounts]]\nid = "a"\ncolour = 1\nvolume = { pattern = "steady", daily = 1 }\n',
            "accounts[0].colour: unknown field",
        ),
    ],
)
def test_bad_scenarios_fail_with_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    assert main(["simulate", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith(f"sendingip simulate: {path}: ")
    assert message in err


def test_missing_file_and_bad_days(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(tmp_path / "nope.toml")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["simulate", str(SCENARIOS / "growing.toml"), "--days", "0"]) == 2
    assert "--days must be >= 1" in capsys.readouterr().err


def test_parse_rejects_duplicate_addresses() -> None:
    raw = {
        "regions": [{"name": "a", "inventory": ["10.0.0.1"]}, {"name": "b", "general_pool": ["10.0.0.1"]}],
        "accounts": [{"id": "x", "region": "a", "volume": {"pattern": "steady", "daily": 1}}],
    }
    with pytest.raises(ScenarioError, match=r"regions\[1\].general_pool: 10.0.0.1 is already listed"):
        parse_scenario(raw)


def test_compare_runs_v1_and_v2_on_the_same_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp"
    assert main(["simulate", str(SCENARIOS / "bounce-spike.toml"), "--compare", "--out", str(out)]) == 0
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out.splitlines()
    table = {cells[0]: cells[1:] for cells in (line.split() for line in printed if line.startswith("  "))}
    totals: dict[str, tuple[int, int]] = {}
    for rules in ("v1", "v2"):
        with (out / f"timeline-{rules}.csv").open(encoding="utf-8") as f:
            csv_rows = [r for r in csv.DictReader(f) if r["account_id"] == "spike"]
        assert len(csv_rows) == 110
        assert all(r["over_limit"] == "0" for r in csv_rows)
        totals[rules] = (sum(int(r["overflow"]) for r in csv_rows), sum(int(r["volume"]) for r in csv_rows))
    # to Dedicated v1, v2; over limit v1, v2; overflow v1, v2 (each percentage is "x %": two cells)
    assert table["clean"][:2] == ["30", "7"]
    assert table["spike"][:2] == ["35", "12"]
    assert table["paused"][:2] == ["45", "22"]
    assert table["spike"][2:6] == ["0", "%", "0", "%"]
    for rules, cell in (("v1", 6), ("v2", 8)):
        overflow, volume = totals[rules]
        assert overflow > 0
        assert table["spike"][cell] == f"{100 * overflow / volume:.3g}"


def _route(
    management: ManagementType, limits: tuple[int | None, int | None], capacity: int | None = 1_000
) -> AccountRoute:
    ips = tuple(DedicatedIP(a, 0.5, limit) for a, limit in zip(("10.0.0.1", "10.0.0.2"), limits, strict=True))
    providers = {p: ProviderRoute(1.0, ips) for p in ("google", "other")}
    return AccountRoute("a", "r", management, date(2025, 1, 1), "pool-a", providers, ip_capacity=capacity)


def _day(route: AccountRoute, by_provider: dict[str, int], has_general_pool: bool) -> tuple[Sends, int, int]:
    placed = allocate(route, by_provider, has_general_pool)
    return placed.sends, placed.overflow, placed.over_limit


def test_a_warm_ip_at_its_capacity_overflows_to_the_pool_then_the_shared_pool() -> None:
    # Dedicated: 10.0.0.1 is warm, 10.0.0.2 warming with a limit of 300 a provider.
    # 1,600 a provider planned 800 / 800 per IP: 10.0.0.1 carries 1,600 over its capacity of
    # 1,000 and gives back 600; 10.0.0.2 takes 300 + 300 (its limits), the rest overflows.
    sends, overflow, over = _day(_route("dedicated", (None, 300)), {"google": 1_600, "other": 1_600}, True)
    assert sends[("10.0.0.1", "google")] + sends[("10.0.0.1", "other")] == 1_000
    assert sends[("10.0.0.2", "google")] == sends[("10.0.0.2", "other")] == 300
    assert overflow == 3_200 - 1_600 and over == 0
    # Room on the pool's other IP: it takes what the full IP gives back.
    sends, overflow, over = _day(_route("dedicated", (None, None)), {"google": 900, "other": 900}, True)
    assert overflow == 0 and over == 0
    assert sends[("10.0.0.2", "google")] + sends[("10.0.0.2", "other")] == 900
    # Transition: straight to the shared pool; no shared pool: carried over (counted).
    _, overflow, over = _day(_route("transition", (None, None), 500), {"google": 1_200}, True)
    assert (overflow, over) == (200, 0)
    sends, overflow, over = _day(_route("transition", (None, None), 500), {"google": 1_200}, False)
    assert (overflow, over) == (0, 200) and sum(sends.values()) == 1_200
    # Uncapped (an entry from before rule 9): a warm IP carries all it is planned.
    _, overflow, over = _day(_route("dedicated", (None, None), None), {"google": 5_000}, True)
    assert (overflow, over) == (0, 0)
