"""The policy settings of SPEC §2: one frozen dataclass, its defaults and their checks.

The rules that use them live in ``workers/policy/`` (which re-exports ``Policy``); the
settings live in ``store``, beside the ``policy`` table, because the Management API
writes them and the rebalancer and the simulator read them, and ``store`` is the one
layer all of them build on. Their limits are in ``store/policy_limits.py``.

Rates and shares are fractions (0.05 means 5 %) everywhere inside the policy; only the
figures meant for people (``*_percent``) are percentages. A fraction multiplies volumes
without a factor of 100 hiding in every formula, and the API converts once, at the edge
(``store/policy_columns.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from store.policy_limits import OVERRIDABLE, SETTINGS, WarmupRules, Wording, check
from store.policy_limits import WARMUP_RULES as WARMUP_RULES  # re-exported beside WarmupRules

#: Daily limits of one (IP, mailbox provider) pair for each warm-up stage (SPEC §2).
#: Past the last stage the pair is warm.
DEFAULT_WARMUP_SCHEDULE: tuple[int, ...] = (
    200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 40_000, 60_000, 80_000,
    100_000, 150_000, 200_000, 250_000, 325_000, 400_000, 500_000, 600_000, 750_000, 900_000,
    1_000_000, 1_150_000, 1_300_000, 1_500_000, 1_700_000, 1_900_000, 2_100_000, 2_300_000, 2_400_000,
    2_500_000,
)  # fmt: skip

#: Mailbox providers the policy tracks; ``other`` must stay: routes fall back to it.
DEFAULT_MAILBOX_PROVIDERS: tuple[str, ...] = ("google", "microsoft", "yahoo", "apple", "other")


@dataclass(frozen=True, slots=True)
class AccountOverride:
    """One account's own values of the settings an operator may override for it (SPEC §2
    "per-account overrides"); ``None`` keeps the policy's. Applied by ``Policy.for_account``."""

    dedicated_threshold_30d: int | None = None
    """The account's own ``dedicated_threshold_30d`` (e.g. lower for a known large sender)."""

    max_ips_per_account: int | None = None
    """The account's own ``max_ips_per_account`` (e.g. a contract's cap)."""

    def changes(self) -> dict[str, Any]:
        """The settings this override sets, by name (what ``dataclasses.replace`` takes)."""
        return {name: value for name in OVERRIDABLE if (value := getattr(self, name)) is not None}


@dataclass(frozen=True, slots=True)
class Policy:
    """Every number the rebalancer decides with. Defaults are SPEC §2's."""

    history_window_days: int = 30
    """Days of history (before the day decided for) that every figure is computed from."""

    dedicated_threshold_30d: int = 250_000
    """Messages in the window at or above which an account gets a dedicated pool."""

    general_threshold_30d: int = 100_000
    """Messages in the window below which an account returns to General (hysteresis)."""

    min_active_days: int = 8
    """Days with any sending in the window needed before a dedicated pool is assigned."""

    ip_daily_capacity: int = 2_500_000
    """Messages one warmed IP carries per day, summed over mailbox providers."""

    max_ips_per_account: int = 10
    """Upper bound of ``required_ips``."""

    warmup_schedule: tuple[int, ...] = DEFAULT_WARMUP_SCHEDULE
    """Daily limit of an (IP, provider) pair per stage; one stage per day the pair sent."""

    scale_in_days: int = 7
    """Consecutive days fewer IPs must have been needed before one IP starts draining."""

    quarantine_days: int = 30
    """Days a recovered IP waits before it goes back to the region's inventory."""

    drain_days: int = 1
    """Days an IP stays Draining (no new traffic; queued retries may still use it)
    before it is released to quarantine. At least 1, so a run never drains and
    releases the same IP at once."""

    hold_bounce_rate: float = 0.05
    """A day's bounce rate at or above which a pair's stage is held (fraction)."""

    hold_complaint_rate: float = 0.001
    """A day's complaint rate at or above which a pair's stage is held (fraction)."""

    hold_deferral_rate: float = 0.20
    """A day's deferral rate at or above which a pair's stage is held (fraction)."""

    step_back_bounce_rate: float = 0.10
    """A day's bounce rate at or above which a pair steps one stage back (fraction)."""

    step_back_complaint_rate: float = 0.005
    """A day's complaint rate at or above which a pair steps one stage back (fraction)."""

    expected_volume_days: int = 7
    """``E_p`` is the mean per-provider volume of the account's last this-many sending
    days in the window (days without sending are skipped)."""

    mailbox_providers: tuple[str, ...] = DEFAULT_MAILBOX_PROVIDERS
    """Providers that get their own warm-up pairs and routes; must include ``other``."""

    advance_fraction: float = 0.9
    """Share of a day's limit a warming pair must carry that day to advance one stage
    (fraction in (0, 1]); a day it carried less, or nothing, holds its stage (SPEC §2 rule 2, v2)."""

    warmup_rules: WarmupRules = "v2"
    """Which warm-up rules 2 and 4 apply: ``"v2"`` (default: advance on carried volume,
    Dedicated when limits cover demand) or ``"v1"`` (advance per day sent, Dedicated when
    every pair is warm), kept only as an option."""

    hourly_burst: float = 2.0
    """Pacing inside the day (SPEC §2 rule 10, v2): by the end of UTC hour h a warming pair
    may have sent at most ``min(limit, ceil(limit * (h + 1) * hourly_burst / 24))``; 0 turns
    pacing off, otherwise at least 1 (so the whole limit is released by the day's end)."""

    same_day_min_outcomes: int = 200
    """Outcomes a pair needs today before the same-day breaker (rule 11, v2) may act on
    its rates: a handful of bounces is noise, not a reputation."""

    throttle_pause_minutes: int = 60
    """Minutes a pair rests after its provider throttled it (rule 11, v2); at most a day."""

    audit_retention_days: int = 400
    """Days the audit log keeps an event (SPEC §3 ``ListAuditEvents``, v2); the rebalancer
    deletes older ones at the end of each run. 400: a year and a month, so last year's
    same month can still be looked up."""

    provider_schedules: Mapping[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    """A provider's own warm-up schedule (e.g. a slower one for ``microsoft``), by provider;
    the providers not named use ``warmup_schedule``. Each follows ``warmup_schedule``'s rules
    and names one of ``mailbox_providers``. A dict, so a ``Policy`` is not hashable; use
    ``schedule_for`` to read it."""

    account_overrides: Mapping[str, AccountOverride] = dataclasses.field(default_factory=dict)
    """Per-account values of ``dedicated_threshold_30d`` and ``max_ips_per_account``, by
    account id (SPEC §2, v2), within the same limits as the settings they replace. The
    rules read them through ``for_account``; the mode of rule 7 is the account's own column."""

    @property
    def warm_stage(self) -> int:
        """The stage a pair reaches after the whole schedule: warm, no limit."""
        return len(self.warmup_schedule)

    def schedule_for(self, provider: str) -> tuple[int, ...]:
        """The warm-up schedule of ``provider``'s pairs: its own, else ``warmup_schedule``."""
        return self.provider_schedules.get(provider, self.warmup_schedule)

    def for_account(self, account_id: str) -> Policy:
        """The policy that decides ``account_id``: this one with its override applied.

        ``self`` when the account has none (no copy for the many accounts without one).
        The overrides stay in the result, so applying it again changes nothing and the
        rules can still say which setting came from an override (``overridden``).
        """
        override = self.account_overrides.get(account_id)
        if override is None:
            return self
        return dataclasses.replace(self, **override.changes())

    def overridden(self, account_id: str, setting: str) -> bool:
        """``setting`` of ``account_id`` comes from its override (for the ``reason``)."""
        override = self.account_overrides.get(account_id)
        return override is not None and setting in override.changes()

    def validate(self, words: Wording = SETTINGS) -> Policy:
        """Raise ``ValueError`` naming the field and the limit it breaks; return self.

        The one check of a policy, whichever door it came through (store/policy_limits.py);
        ``words`` only says how the message names a field and shows a rate.
        """
        check({field.name: getattr(self, field.name) for field in dataclasses.fields(self)}, words)
        return self


POLICY_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Policy))


def policy_from_mapping(values: Mapping[str, Any], base: Policy | None = None, words: Wording = SETTINGS) -> Policy:
    """``base`` (default: SPEC defaults) with ``values`` applied, validated.

    For settings read from JSON, TOML or a database row: lists become tuples, an
    unknown name or a wrong type raises ``ValueError`` naming the field.
    """
    changes: dict[str, Any] = {}
    for name, value in values.items():
        if name not in POLICY_FIELDS:
            raise ValueError(f"unknown policy setting {name!r} (known: {', '.join(POLICY_FIELDS)})")
        changes[name] = _field_value(name, value, words)
    return dataclasses.replace(base or Policy(), **changes).validate(words)


def _field_value(name: str, value: Any, words: Wording) -> Any:
    """``value`` in the type of field ``name`` (lists as tuples); its limits are ``validate``'s."""
    if name in ("warmup_schedule", "mailbox_providers"):
        return _tuple(words.name(name), value)
    if name == "provider_schedules":
        if not isinstance(value, Mapping):
            raise ValueError(f"{words.name(name)} must map a provider to its schedule, got {value!r}")
        return {str(k): _tuple(f"{words.name(name)}[{k}]", v) for k, v in sorted(value.items())}
    if name == "account_overrides":
        return _account_overrides(words.name(name), value)
    if name == "warmup_rules":
        if not isinstance(value, str):
            raise ValueError(f"{words.name(name)} must be a string, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{words.name(name)} must be a number, got {value!r}")
    return value


def _account_overrides(name: str, value: Any) -> dict[str, AccountOverride]:
    """``{"acme": {"max_ips_per_account": 3}}`` as ``AccountOverride``s; their limits are ``validate``'s."""
    if isinstance(value, Mapping) and all(isinstance(v, AccountOverride) for v in value.values()):
        return {str(k): v for k, v in sorted(value.items())}
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must map an account id to its overrides, got {value!r}")
    overrides: dict[str, AccountOverride] = {}
    for account_id, settings in sorted(value.items()):
        if not isinstance(settings, Mapping):
            raise ValueError(f"{name}[{account_id}] must map a setting to its value, got {settings!r}")
        unknown = sorted(set(settings) - set(OVERRIDABLE))
        if unknown:
            raise ValueError(f"{name}[{account_id}] may set only {', '.join(OVERRIDABLE)}, not {', '.join(unknown)}")
        overrides[str(account_id)] = AccountOverride(**settings)
    return overrides


def _tuple(name: str, value: Any) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"{name} must be a list, got {value!r}")
    return tuple(value)


def policy_to_mapping(policy: Policy) -> dict[str, Any]:
    """The settings as plain JSON-friendly values (tuples as lists, mappings as dicts)."""
    out: dict[str, Any] = {}
    for name in POLICY_FIELDS:
        value = getattr(policy, name)
        if name == "account_overrides":
            value = {account_id: override.changes() for account_id, override in value.items()}
        elif isinstance(value, Mapping):
            value = {key: list(item) for key, item in value.items()}
        out[name] = list(value) if isinstance(value, tuple) else value
    return out
