"""The limits of every policy setting, written once: ``Policy.validate`` applies them.

The Management API (UpdatePolicy), the rebalancer (the stored row) and the simulator
(a scenario's ``[policy]``) all build a ``Policy`` and validate it here, so no door can
accept a policy another refuses. It lives in ``store``, beside the ``policy`` table it
guards, because both the server and the workers build on ``store`` and on nothing else. Each door speaks its own words in an error message:
the settings call a rate ``hold_bounce_rate`` and hold it as a fraction, the API and the
policy table call it ``hold_bounce_percent`` and take a percentage. ``Wording`` says how
to name a field and show a rate; the limits themselves do not change with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from store.accounts import ACCOUNT_ID
from store.routing_entry import FALLBACK_PROVIDER, PROVIDER_NAME

#: The largest value a bigint column holds.
BIGINT_MAX = 2**63 - 1
#: Inclusive bounds of the whole-number settings (the policy table's CHECKs are looser,
#: never stricter).
WHOLE_NUMBER_BOUNDS: Mapping[str, tuple[int, int]] = {
    "history_window_days": (1, 365),
    "dedicated_threshold_30d": (1, BIGINT_MAX),
    "general_threshold_30d": (0, BIGINT_MAX),
    "min_active_days": (0, 365),
    "ip_daily_capacity": (1, BIGINT_MAX),
    "max_ips_per_account": (1, 1000),
    "scale_in_days": (1, 365),
    "quarantine_days": (0, 3650),
    "drain_days": (1, 365),
    "expected_volume_days": (1, 365),
    "same_day_min_outcomes": (1, BIGINT_MAX),
    "throttle_pause_minutes": (1, 24 * 60),
    "audit_retention_days": (1, 36_500),
}
#: The outcome rates (fractions in (0, 1]); each ``hold_*`` must not exceed its ``step_back_*``.
RATE_FIELDS = (
    "hold_bounce_rate",
    "hold_complaint_rate",
    "hold_deferral_rate",
    "step_back_bounce_rate",
    "step_back_complaint_rate",
)
MAX_STAGES = 365
#: ``hourly_burst``'s bounds when pacing is on (0 turns it off): below 1 a pair could not send
#: its whole limit by the end of the day; at 24 the whole limit is released in hour 0 already.
HOURLY_BURST_RANGE = (1.0, 24.0)

#: The settings an account may have its own value of (SPEC §2 "per-account overrides", v2).
OVERRIDABLE = ("dedicated_threshold_30d", "max_ips_per_account")
#: At most this many accounts may have an override: the policy is one row that every
#: rebalance and GetPolicy reads whole, and no admin input may make another call fail.
MAX_ACCOUNT_OVERRIDES = 10_000

#: The warm-up rule sets (SPEC §2 rules 2 and 4): ``v2`` is the default, ``v1`` an option.
WarmupRules = Literal["v1", "v2"]
WARMUP_RULES: tuple[WarmupRules, ...] = ("v1", "v2")


@dataclass(frozen=True, slots=True)
class Wording:
    """How one door names a setting and shows a rate in an error message."""

    prefix: str = ""
    rate_suffix: str = "_rate"
    rate_scale: float = 1.0
    rate_range: str = "a fraction in (0, 1], e.g. 0.05 for 5%"

    def name(self, field: str) -> str:
        if field.endswith("_rate"):
            field = field.removesuffix("_rate") + self.rate_suffix
        return self.prefix + field

    def rate(self, value: object) -> str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"{value * self.rate_scale:g}"
        return repr(value)


#: The settings' own words: field names and fractions as ``Policy`` holds them.
SETTINGS = Wording()


def check(policy: Mapping[str, Any], words: Wording = SETTINGS) -> None:
    """Raise ``ValueError`` naming (in ``words``) the first field that breaks a limit.

    ``policy`` maps every field of ``Policy`` to its value (``Policy.validate`` passes its own).
    """
    _check_whole_numbers(policy, words)
    _check_schedule(policy["warmup_schedule"], words.name("warmup_schedule"), policy["ip_daily_capacity"], words)
    _check_rates(policy, words)
    _check_providers(policy["mailbox_providers"], words)
    _check_provider_schedules(policy, words)
    _check_v2_numbers(policy, words)
    _check_account_overrides(policy, words)


def _whole_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_whole_numbers(policy: Mapping[str, Any], words: Wording) -> None:
    for field, (low, high) in WHOLE_NUMBER_BOUNDS.items():
        value = policy[field]
        if not _whole_number(value):
            raise ValueError(f"{words.name(field)} must be a whole number, got {value!r}")
        if value < low:
            raise ValueError(f"{words.name(field)} must be a whole number >= {low}, got {value}")
        if value > high:
            raise ValueError(f"{words.name(field)} must be a whole number <= {high}, got {value}")
    general, dedicated = policy["general_threshold_30d"], policy["dedicated_threshold_30d"]
    if general > dedicated:
        raise ValueError(
            f"{words.name('general_threshold_30d')} must be <= {words.name('dedicated_threshold_30d')} "
            f"(got {general} > {dedicated}): the gap between them is the hysteresis"
        )
    active, window = policy["min_active_days"], policy["history_window_days"]
    if active > window:
        raise ValueError(
            f"{words.name('min_active_days')} must be <= {words.name('history_window_days')} ({window}), got {active}"
        )


def _number(value: object) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_schedule(schedule: tuple[int, ...], name: str, capacity: int, words: Wording) -> None:
    """The rules of one warm-up schedule (``warmup_schedule`` and each provider's own)."""
    if not schedule:
        raise ValueError(f"{name} must have at least one stage")
    if len(schedule) > MAX_STAGES:
        raise ValueError(f"{name} must have at most {MAX_STAGES} stages, got {len(schedule)}")
    for i, limit in enumerate(schedule):
        if not _whole_number(limit) or limit < 1:
            raise ValueError(f"{name}[{i}] must be a whole number >= 1, got {limit!r}")
        if i and limit < schedule[i - 1]:
            raise ValueError(f"{name} must not decrease: stage {i} ({limit}) < stage {i - 1} ({schedule[i - 1]})")
        if limit > capacity:
            raise ValueError(f"{name}[{i}] ({limit}) must be <= {words.name('ip_daily_capacity')} ({capacity})")


def _check_rates(policy: Mapping[str, Any], words: Wording) -> None:
    for field in RATE_FIELDS:
        value = policy[field]
        if not _number(value) or not 0 < value <= 1:
            raise ValueError(f"{words.name(field)} must be {words.rate_range}, got {words.rate(value)}")
    for kind in ("bounce", "complaint"):
        hold, back = f"hold_{kind}_rate", f"step_back_{kind}_rate"
        if policy[back] < policy[hold]:
            raise ValueError(
                f"{words.name(back)} ({words.rate(policy[back])}) must be >= "
                f"{words.name(hold)} ({words.rate(policy[hold])}): a pair is held before it steps back"
            )


def _check_providers(providers: tuple[str, ...], words: Wording) -> None:
    name = words.name("mailbox_providers")
    for i, provider in enumerate(providers):
        if not isinstance(provider, str) or PROVIDER_NAME.fullmatch(provider) is None:
            raise ValueError(f"{name}[{i}] {provider!r} must be 1-32 characters of a-z 0-9 _ -")
    if len(set(providers)) != len(providers):
        raise ValueError(f"{name} must not name a provider twice")
    if FALLBACK_PROVIDER not in providers:
        raise ValueError(f"{name} must include {FALLBACK_PROVIDER!r}: routes fall back to it")


def _check_provider_schedules(policy: Mapping[str, Any], words: Wording) -> None:
    """Each provider's own schedule follows ``warmup_schedule``'s rules and names a known provider."""
    name, providers = words.name("provider_schedules"), policy["mailbox_providers"]
    for provider, schedule in policy["provider_schedules"].items():
        if provider not in providers:
            raise ValueError(
                f"{name} names {provider!r}, which is not one of {words.name('mailbox_providers')} "
                f"({', '.join(providers)})"
            )
        _check_schedule(schedule, f"{name}[{provider}]", policy["ip_daily_capacity"], words)


def _check_v2_numbers(policy: Mapping[str, Any], words: Wording) -> None:
    """The v2 settings that are not whole numbers: a fraction, a pacing factor, a rule set."""
    fraction = policy["advance_fraction"]
    if not _number(fraction) or not 0 < fraction <= 1:
        raise ValueError(f"{words.name('advance_fraction')} must be a fraction in (0, 1], got {fraction!r}")
    burst, (low, high) = policy["hourly_burst"], HOURLY_BURST_RANGE
    if not _number(burst) or not (burst == 0 or low <= burst <= high):
        raise ValueError(
            f"{words.name('hourly_burst')} must be 0 (pacing off) or a number in [{low:g}, {high:g}], got {burst!r}"
        )
    rules = policy["warmup_rules"]
    if rules not in WARMUP_RULES:
        raise ValueError(f"{words.name('warmup_rules')} must be one of {', '.join(WARMUP_RULES)}, got {rules!r}")


def _check_account_overrides(policy: Mapping[str, Any], words: Wording) -> None:
    """Each override names a valid account id and keeps its settings within the limits of
    the ones it replaces, hysteresis included: an account's own ``dedicated_threshold_30d``
    is not below ``general_threshold_30d``, else it would enter and leave its pool in turn."""
    overrides: Mapping[str, Any] = policy["account_overrides"]
    name = words.name("account_overrides")
    if len(overrides) > MAX_ACCOUNT_OVERRIDES:
        raise ValueError(f"{name} may name at most {MAX_ACCOUNT_OVERRIDES} accounts, got {len(overrides)}")
    for account_id, override in overrides.items():
        if not isinstance(account_id, str) or ACCOUNT_ID.fullmatch(account_id) is None:
            raise ValueError(f"{name} names {account_id!r}: an account id is 1-128 characters of A-Z a-z 0-9 . _ : @ -")
        values = {field: getattr(override, field) for field in OVERRIDABLE}
        if all(value is None for value in values.values()):
            raise ValueError(f"{name}[{account_id}] must set at least one of {', '.join(OVERRIDABLE)}")
        for field, value in values.items():
            if value is None:
                continue
            low, high = WHOLE_NUMBER_BOUNDS[field]
            if not _whole_number(value) or not low <= value <= high:
                raise ValueError(
                    f"{name}[{account_id}].{field} must be a whole number in [{low}, {high}], got {value!r}"
                )
        threshold, general = values["dedicated_threshold_30d"], policy["general_threshold_30d"]
        if threshold is not None and threshold < general:
            raise ValueError(
                f"{name}[{account_id}].dedicated_threshold_30d must be >= {words.name('general_threshold_30d')} "
                f"({general}), got {threshold}: the gap between them is the hysteresis"
            )
