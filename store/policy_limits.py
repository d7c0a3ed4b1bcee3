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
from typing import Any

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
    _check_schedule(policy, words)
    _check_rates(policy, words)
    _check_providers(policy["mailbox_providers"], words)


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


def _check_schedule(policy: Mapping[str, Any], words: Wording) -> None:
    schedule, capacity = policy["warmup_schedule"], policy["ip_daily_capacity"]
    name = words.name("warmup_schedule")
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
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or not 0 < value <= 1:
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
