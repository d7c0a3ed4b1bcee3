"""The policy settings: SPEC defaults, and checks that name the field and the rule."""

from __future__ import annotations

import dataclasses

import pytest

from workers.policy import Policy, policy_from_mapping, policy_to_mapping


def test_defaults_are_the_spec_table() -> None:
    policy = Policy().validate()
    assert policy.history_window_days == 30
    assert policy.dedicated_threshold_30d == 250_000
    assert policy.general_threshold_30d == 100_000
    assert policy.min_active_days == 8
    assert policy.ip_daily_capacity == 2_500_000
    assert policy.max_ips_per_account == 10
    assert len(policy.warmup_schedule) == 30
    assert policy.warmup_schedule[:5] == (200, 500, 1_000, 2_000, 5_000)
    assert policy.warmup_schedule[-1] == 2_500_000
    assert policy.scale_in_days == 7
    assert policy.quarantine_days == 30
    assert (policy.hold_bounce_rate, policy.hold_complaint_rate, policy.hold_deferral_rate) == (0.05, 0.001, 0.2)
    assert (policy.step_back_bounce_rate, policy.step_back_complaint_rate) == (0.10, 0.005)
    assert policy.mailbox_providers == ("google", "microsoft", "yahoo", "apple", "other")


def test_every_field_has_a_docstring() -> None:
    import inspect

    source = inspect.getsource(Policy)
    for field in dataclasses.fields(Policy):
        block = source.split(f"    {field.name}:", 1)[1]
        assert block.split("\n", 2)[1].strip().startswith('"""'), field.name


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"history_window_days": 0}, "history_window_days must be a whole number >= 1"),
        ({"general_threshold_30d": 300_000}, "general_threshold_30d must be <= dedicated_threshold_30d"),
        ({"min_active_days": 31}, "min_active_days must be <= history_window_days"),
        ({"warmup_schedule": ()}, "warmup_schedule must have at least one stage"),
        ({"warmup_schedule": (500, 200)}, "warmup_schedule must not decrease"),
        ({"warmup_schedule": (200, 3_000_000)}, "warmup_schedule[1] (3000000) must be <= ip_daily_capacity"),
        ({"hold_bounce_rate": 5.0}, "hold_bounce_rate must be a fraction in (0, 1]"),
        ({"step_back_bounce_rate": 0.04}, "step_back_bounce_rate (0.04) must be >= hold_bounce_rate"),
        ({"mailbox_providers": ("google",)}, "mailbox_providers must include 'other'"),
        ({"drain_days": 0}, "drain_days must be a whole number >= 1"),
        ({"max_ips_per_account": 2.5}, "max_ips_per_account must be a whole number"),
    ],
)
def test_validate_names_the_field_and_the_rule(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        dataclasses.replace(Policy(), **changes).validate()  # type: ignore[arg-type]


def test_from_mapping_round_trip_and_unknown_names() -> None:
    policy = policy_from_mapping({"scale_in_days": 3, "warmup_schedule": [100, 200]})
    assert policy.scale_in_days == 3
    assert policy.warmup_schedule == (100, 200)
    assert policy_from_mapping(policy_to_mapping(policy)) == policy
    with pytest.raises(ValueError, match="unknown policy setting 'scale_out_days'"):
        policy_from_mapping({"scale_out_days": 3})
    with pytest.raises(ValueError, match="quarantine_days must be a number"):
        policy_from_mapping({"quarantine_days": "30"})
