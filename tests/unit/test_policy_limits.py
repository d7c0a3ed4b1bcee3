"""One set of policy limits: the API, the settings and the simulator give the same answer.

UpdatePolicy takes percentages under the table's column names; the settings (and a
scenario's ``[policy]``) take fractions under the ``Policy`` field names. Both go
through ``Policy.validate``: a value one door refuses, every door refuses, naming the
field in its own words.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from sendingip.v1 import types_pb2
from server.management import policy as api_policy
from server.management.errors import InvalidArgument
from store import queries
from store.policy_columns import COLUMNS, PERCENT_COLUMNS, column_parameters, column_values, policy_from_columns
from store.policy_limits import MAX_STAGES, WHOLE_NUMBER_BOUNDS
from workers.policy import Policy, policy_from_mapping, policy_to_mapping
from workers.simulate.scenario import ScenarioError, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
#: The policy row as migrations 0001 and 0005 create it (percentages; provider_schedules as
#: ``column_values`` holds it, a dict).
ROW_DEFAULTS: dict[str, Any] = {
    **{name: value for name, value in dataclasses.asdict(Policy()).items() if name not in PERCENT_COLUMNS},
    "hold_bounce_percent": 5.0,
    "hold_complaint_percent": 0.1,
    "hold_deferral_percent": 20.0,
    "step_back_bounce_percent": 10.0,
    "step_back_complaint_percent": 0.5,
}
SCENARIO_REST = {
    "regions": [{"name": "r", "general_pool": ["192.0.2.1"]}],
    "accounts": [{"id": "a", "volume": {"pattern": "steady", "daily": 1}}],
}


def _api(**columns: Any) -> str | None:
    """UpdatePolicy's answer (its pure check) for the defaults with ``columns`` changed."""
    try:
        api_policy.validate({**ROW_DEFAULTS, **columns})
    except InvalidArgument as exc:
        return exc.message
    return None


def _settings(**fields: Any) -> str | None:
    try:
        policy_from_mapping(fields)
    except ValueError as exc:
        return str(exc)
    return None


def _scenario(**fields: Any) -> str | None:
    try:
        parse_scenario({"policy": fields, **SCENARIO_REST})
    except ScenarioError as exc:
        return str(exc)
    return None


def test_the_defaults_pass_every_door_and_the_row_is_the_settings() -> None:
    assert _api() is None and _settings() is None and _scenario() is None
    assert policy_from_columns(ROW_DEFAULTS) == Policy()


def _same_answer(api: str | None, settings: str | None, scenario: str | None) -> None:
    """The three doors agree: all accept, or all refuse with the same words (but the prefix)."""
    if settings is None:
        assert api is None and scenario is None
    else:
        assert api is not None and api.replace("policy.", "") == settings
        assert scenario == f"policy: {settings}"


@pytest.mark.parametrize(
    ("field", "value"),
    [(field, value) for field, (low, high) in WHOLE_NUMBER_BOUNDS.items() for value in (low - 1, low, high, high + 1)],
)
def test_every_whole_number_bound_is_the_same_at_every_door(field: str, value: int) -> None:
    settings = _settings(**{field: value})
    _same_answer(_api(**{field: value}), settings, _scenario(**{field: value}))
    low, high = WHOLE_NUMBER_BOUNDS[field]
    if not low <= value <= high:
        assert settings is not None and settings.startswith(f"{field} must be a whole number")


@pytest.mark.parametrize("percent", [-1.0, 0.0, 1e-6, 0.1, 5.0, 100.0, 100.5, 1e300, float("nan"), float("inf")])
def test_rates_have_the_same_limits_as_percentages_and_as_fractions(percent: float) -> None:
    """hold_deferral has no step-back partner, so only its own range decides."""
    api = _api(hold_deferral_percent=percent)
    settings = _settings(hold_deferral_rate=percent / 100.0)
    assert (api is None) == (settings is None) == (0 < percent <= 100)
    if api is not None and settings is not None:
        assert api.startswith("policy.hold_deferral_percent must be a percentage in (0, 100], got ")
        assert settings.startswith("hold_deferral_rate must be a fraction in (0, 1]")


@pytest.mark.parametrize(
    ("columns", "fields", "named"),
    [
        ({"general_threshold_30d": 300_000}, {"general_threshold_30d": 300_000}, "general_threshold_30d"),
        ({"min_active_days": 31}, {"min_active_days": 31}, "min_active_days"),
        ({"warmup_schedule": []}, {"warmup_schedule": []}, "warmup_schedule"),
        ({"warmup_schedule": [1] * (MAX_STAGES + 1)}, {"warmup_schedule": [1] * (MAX_STAGES + 1)}, "warmup_schedule"),
        ({"warmup_schedule": [0, 200]}, {"warmup_schedule": [0, 200]}, "warmup_schedule[0]"),
        ({"warmup_schedule": [500, 200]}, {"warmup_schedule": [500, 200]}, "warmup_schedule"),
        ({"warmup_schedule": [200, 3_000_000]}, {"warmup_schedule": [200, 3_000_000]}, "warmup_schedule[1]"),
        ({"mailbox_providers": ["google"]}, {"mailbox_providers": ["google"]}, "mailbox_providers"),
        ({"mailbox_providers": ["Gmail", "other"]}, {"mailbox_providers": ["Gmail", "other"]}, "mailbox_providers[0]"),
        ({"mailbox_providers": ["other", "other"]}, {"mailbox_providers": ["other", "other"]}, "mailbox_providers"),
        ({"step_back_bounce_percent": 4.0}, {"step_back_bounce_rate": 0.04}, "step_back_bounce"),
        ({"hold_complaint_percent": 1.0}, {"hold_complaint_rate": 0.01}, "step_back_complaint"),
    ],
)
def test_relations_and_lists_are_refused_at_every_door(
    columns: dict[str, Any], fields: dict[str, Any], named: str
) -> None:
    api, settings, scenario = _api(**columns), _settings(**fields), _scenario(**fields)
    assert api is not None and settings is not None and scenario == f"policy: {settings}"
    assert api.startswith(f"policy.{named}") and settings.startswith(named)
    if named.startswith("step_back"):  # the same rule, each door naming a rate in its own words
        rates = api.replace("policy.", "").replace("_percent", "_rate")
        assert rates.split(" (")[0] == settings.split(" (")[0]
    else:
        _same_answer(api, settings, scenario)


def test_a_scenario_cannot_carry_a_policy_the_api_refuses() -> None:
    with pytest.raises(ScenarioError, match=r"^policy: max_ips_per_account must be a whole number <= 1000, got 5000$"):
        parse_scenario({"policy": {"max_ips_per_account": 5000}, **SCENARIO_REST})
    with pytest.raises(ScenarioError, match=r"^policy: history_window_days must be a whole number <= 365, got 400$"):
        parse_scenario({"policy": {"history_window_days": 400}, **SCENARIO_REST})


def test_the_columns_are_the_policy_fields_the_proto_and_the_table() -> None:
    proto = {f.name for f in types_pb2.Policy.DESCRIPTOR.fields} - {"updated_by", "updated_at"}
    assert set(COLUMNS) == proto
    snapshot = (ROOT / "store" / "schema.snapshot").read_text(encoding="utf-8")
    table = set(re.findall(r"^column policy\.(\w+) ", snapshot, re.MULTILINE)) - {
        "singleton",
        "updated_by",
        "updated_at",
    }
    assert set(COLUMNS) == table
    assert [PERCENT_COLUMNS.get(f.name, f.name) for f in dataclasses.fields(Policy)] == list(COLUMNS)


def test_the_update_statement_takes_its_parameters_in_the_columns_order() -> None:
    sql = queries.load()["mgmt_policy_update"]
    assigned = re.findall(r"(\w+) = \$(\d+)", sql)
    assert [name for name, _ in assigned] == [*COLUMNS, "updated_by"]
    assert [int(n) for _, n in assigned] == list(range(1, len(COLUMNS) + 2))


# The settings added in v2 (SPEC §2): the same one check, the same words at every door.


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        *[("advance_fraction", v, ok) for v, ok in [(-0.1, False), (0.0, False), (1e-6, True), (0.9, True)]],
        *[("advance_fraction", v, ok) for v, ok in [(1.0, True), (1.01, False), (float("nan"), False)]],
        *[("hourly_burst", v, ok) for v, ok in [(-1.0, False), (0.0, True), (0.5, False), (0.99, False)]],
        *[("hourly_burst", v, ok) for v, ok in [(1.0, True), (2.0, True), (24.0, True), (24.5, False)]],
        ("hourly_burst", float("inf"), False),
        *[("warmup_rules", v, ok) for v, ok in [("v1", True), ("v2", True), ("v3", False), ("V2", False), ("", False)]],
    ],
)
def test_every_v2_bound_is_the_same_at_every_door(field: str, value: Any, accepted: bool) -> None:
    settings = _settings(**{field: value})
    _same_answer(_api(**{field: value}), settings, _scenario(**{field: value}))
    assert (settings is None) == accepted, settings
    if settings is not None:
        assert settings.startswith(f"{field} must be ")


def test_the_v2_whole_numbers_have_their_bounds() -> None:
    assert WHOLE_NUMBER_BOUNDS["same_day_min_outcomes"][0] == 1
    assert WHOLE_NUMBER_BOUNDS["throttle_pause_minutes"] == (1, 1440)
    assert _settings(throttle_pause_minutes=1441) == "throttle_pause_minutes must be a whole number <= 1440, got 1441"
    assert _api(same_day_min_outcomes=0) == "policy.same_day_min_outcomes must be a whole number >= 1, got 0"
    assert _settings(throttle_pause_minutes=1.5) == "throttle_pause_minutes must be a whole number, got 1.5"


@pytest.mark.parametrize(
    ("schedules", "named"),
    [
        ({"gmail": [100, 200]}, "provider_schedules names 'gmail', which is not one of mailbox_providers"),
        ({"microsoft": []}, "provider_schedules[microsoft] must have at least one stage"),
        ({"microsoft": [1] * (MAX_STAGES + 1)}, "provider_schedules[microsoft] must have at most"),
        ({"microsoft": [0, 200]}, "provider_schedules[microsoft][0] must be a whole number >= 1"),
        ({"microsoft": [500, 200]}, "provider_schedules[microsoft] must not decrease"),
        ({"yahoo": [200, 3_000_000]}, "provider_schedules[yahoo][1] (3000000) must be <= ip_daily_capacity"),
        ({"microsoft": [100, 2.5]}, "provider_schedules[microsoft][1] must be a whole number >= 1"),
    ],
)
def test_a_provider_schedule_follows_the_warmup_schedule_rules_at_every_door(
    schedules: dict[str, list[Any]], named: str
) -> None:
    settings = _settings(provider_schedules=schedules)
    _same_answer(_api(provider_schedules=schedules), settings, _scenario(provider_schedules=schedules))
    assert settings is not None and settings.startswith(named), settings


def test_a_provider_schedule_is_the_providers_and_the_others_keep_the_default() -> None:
    schedules = {"microsoft": [100, 300, 1_000], "apple": [50]}
    assert _api(provider_schedules=schedules) is None and _scenario(provider_schedules=schedules) is None
    policy = policy_from_mapping({"provider_schedules": schedules})
    assert policy.provider_schedules == {"apple": (50,), "microsoft": (100, 300, 1_000)}
    assert policy.schedule_for("microsoft") == (100, 300, 1_000)
    assert policy.schedule_for("google") == policy.warmup_schedule
    assert policy_from_mapping(policy_to_mapping(policy)) == policy
    # A schedule must name a provider the policy tracks, also after mailbox_providers changes.
    refused = _settings(provider_schedules={"apple": [50]}, mailbox_providers=["google", "other"])
    assert refused is not None and refused.startswith("provider_schedules names 'apple'")
    assert _settings(provider_schedules=[["microsoft", [1]]]) is not None


def test_the_row_holds_provider_schedules_as_json_text() -> None:
    """asyncpg reads a jsonb column as its text; the row converts like the settings."""
    row = {**ROW_DEFAULTS, "provider_schedules": '{"microsoft": [100, 300]}', "warmup_rules": "v1"}
    policy = policy_from_columns(row)
    assert policy.provider_schedules == {"microsoft": (100, 300)} and policy.warmup_rules == "v1"
    values = column_values(row)
    assert values["provider_schedules"] == {"microsoft": [100, 300]}
    parameters = column_parameters(values)
    assert parameters[COLUMNS.index("provider_schedules")] == '{"microsoft": [100, 300]}'
    assert len(parameters) == len(COLUMNS)


def test_an_update_sets_or_removes_one_providers_schedule_and_leaves_the_others() -> None:
    row = {**ROW_DEFAULTS, "provider_schedules": '{"microsoft": [100, 300], "yahoo": [50]}'}
    unchanged = api_policy.merged(row, types_pb2.Policy(hourly_burst=0.0))
    assert unchanged["provider_schedules"] == {"microsoft": [100, 300], "yahoo": [50]}
    assert unchanged["hourly_burst"] == 0.0 and unchanged["advance_fraction"] == 0.9
    update = types_pb2.Policy(
        provider_schedules=[
            types_pb2.ProviderSchedule(provider="apple", limits=[10, 20]),
            types_pb2.ProviderSchedule(provider="yahoo"),  # no limits: back to warmup_schedule
            types_pb2.ProviderSchedule(provider="google"),  # had none: nothing to remove
        ]
    )
    assert api_policy.merged(row, update)["provider_schedules"] == {"apple": [10, 20], "microsoft": [100, 300]}
