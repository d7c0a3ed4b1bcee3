"""Scenario files (TOML): regions, inventory, policy overrides, accounts and their traffic.

Every field is checked here, so a bad file fails with one line naming the field
(``accounts[1].volume.pattern: must be one of ...``), never with a traceback later.
See docs/policy.md (`sendingip simulate`) for the format; ``workers/scenarios/`` has examples.
"""

from __future__ import annotations

import ipaddress
import itertools
import math
import random
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from workers.policy import Policy, policy_from_mapping

PATTERNS = ("steady", "growing", "declining", "bursty", "weekday", "points")
CURVES = ("linear", "exponential")
MAX_INVENTORY_PER_CIDR = 1 << 20
MAX_ACCOUNTS = 100_000
MAX_DAYS = 3_650


class ScenarioError(ValueError):
    """A scenario file that cannot be simulated; the message names the field."""


@dataclass(frozen=True, slots=True)
class Spike:
    """Outcome rates that replace the account's usual ones on days ``from_day..to_day``."""

    from_day: int
    to_day: int
    provider: str | None
    bounce: float | None
    complaint: float | None
    deferral: float | None


@dataclass(frozen=True, slots=True)
class Throttle:
    """A provider throttles the account's dedicated pairs (SMTP 421, 4.7.x) at the start of
    UTC ``hour`` of day ``day``: the same-day breaker rests them (SPEC rule 11)."""

    day: int
    hour: int
    provider: str


@dataclass(frozen=True, slots=True)
class VolumePattern:
    kind: str
    daily: float = 0.0
    start: float = 0.0
    end: float = 0.0
    from_day: int = 0
    to_day: int | None = None
    curve: str = "linear"
    burst: float = 0.0
    every: int = 7
    first_burst_day: int = 0
    weekdays_only: bool = False
    noise: float = 0.0
    points: tuple[tuple[int, float], ...] = ()

    def level(self, index: int, day: date, last_day: int) -> float:
        """The day's volume before noise (``index`` counts days from the start, from 0)."""
        if self.weekdays_only and day.weekday() >= 5:
            return 0.0
        kind = self.kind
        if kind == "steady":
            return self.daily
        if kind == "weekday":
            return 0.0 if day.weekday() >= 5 else self.daily
        if kind == "bursty":
            bursting = index >= self.first_burst_day and (index - self.first_burst_day) % self.every == 0
            return self.daily + (self.burst if bursting else 0.0)
        if kind == "points":
            return _interpolate(self.points, index)
        lo = self.from_day
        hi = last_day if self.to_day is None else self.to_day
        if index <= lo or hi <= lo:
            return self.start if index <= lo else self.end
        if index >= hi:
            return self.end
        t = (index - lo) / (hi - lo)
        if self.curve == "exponential" and self.start > 0 and self.end > 0:
            return float(self.start * (self.end / self.start) ** t)
        return self.start + (self.end - self.start) * t


def _interpolate(points: tuple[tuple[int, float], ...], index: int) -> float:
    if index <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if index <= x1:
            return y0 + (y1 - y0) * (index - x0) / (x1 - x0)
    return points[-1][1]


@dataclass(frozen=True, slots=True)
class AccountSpec:
    account_id: str
    region: str
    #: Provider → fraction of the account's mail, summing to 1.
    mix: Mapping[str, float]
    volume: VolumePattern
    #: Multiplies the pattern (replicas of a group get a random one within ``jitter``).
    scale: float
    bounce: float
    complaint: float
    deferral: float
    spikes: tuple[Spike, ...]
    #: Day index ranges (inclusive) during which an operator has paused the warm-up.
    pauses: tuple[tuple[int, int], ...]
    seed: str
    #: The share of a day's mail sent in each UTC hour (24 values summing to 1); ``()``: flat.
    hourly_profile: tuple[float, ...] = ()
    throttles: tuple[Throttle, ...] = ()
    #: (day index, mix) from which day on the account's mail follows another mix, in day
    #: order (``providers_from``: e.g. an account that starts sending to yahoo, rule 13).
    mix_changes: tuple[tuple[int, Mapping[str, float]], ...] = ()

    def mix_on(self, index: int) -> Mapping[str, float]:
        """The provider mix of day ``index``."""
        mix = self.mix
        for start, changed in self.mix_changes:
            if start > index:
                break
            mix = changed
        return mix

    @property
    def providers_ever(self) -> list[str]:
        """Every provider of any of the account's mixes, first seen first."""
        seen = dict.fromkeys(self.mix)
        for _, changed in self.mix_changes:
            seen.update(dict.fromkeys(changed))
        return list(seen)


@dataclass(frozen=True, slots=True)
class RegionSpec:
    name: str
    general_pool: tuple[str, ...]
    inventory: tuple[str, ...]
    #: (day index, addresses) of general-pool IPs added to the region during the scenario
    #: (SPEC rule 12: they ramp in along the schedule).
    general_added: tuple[tuple[int, tuple[str, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    start: date
    days: int
    seed: int
    policy: Policy
    regions: tuple[RegionSpec, ...]
    accounts: tuple[AccountSpec, ...]

    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)


def load_scenario(path: Path, days: int | None = None) -> Scenario:
    """Read and check a scenario file; ``days`` overrides the file's ``days``."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    try:
        return parse_scenario(raw, default_name=path.stem, days=days)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def parse_scenario(raw: Mapping[str, Any], default_name: str = "scenario", days: int | None = None) -> Scenario:
    _known(raw, "", {"name", "description", "start", "days", "seed", "policy", "regions", "accounts"})
    name = _str(raw, "name", "", default_name)
    description = _str(raw, "description", "", "")
    start = raw.get("start", date(2025, 1, 1))
    if isinstance(start, str):
        try:
            start = date.fromisoformat(start)
        except ValueError:
            raise ScenarioError(f"start: must be a date like 2025-01-01, got {start!r}") from None
    if not isinstance(start, date) or hasattr(start, "hour"):
        raise ScenarioError(f"start: must be a date like 2025-01-01, got {start!r}")
    n_days = days if days is not None else _int(raw, "days", "", 120, 1)
    if not 1 <= n_days <= MAX_DAYS:
        raise ScenarioError(f"days: must be between 1 and {MAX_DAYS}, got {n_days}")
    seed = _int(raw, "seed", "", 1, None)

    policy_raw = raw.get("policy", {})
    if not isinstance(policy_raw, dict):
        raise ScenarioError("policy: must be a table of policy settings")
    try:
        policy = policy_from_mapping(policy_raw)
    except ValueError as exc:
        raise ScenarioError(f"policy: {exc}") from None

    regions_raw = raw.get("regions")
    if not isinstance(regions_raw, list) or not regions_raw:
        raise ScenarioError("regions: must be a non-empty array of tables ([[regions]])")
    regions: list[RegionSpec] = []
    seen_ips: dict[str, str] = {}
    for i, region_raw in enumerate(regions_raw):
        regions.append(_region(region_raw, f"regions[{i}]", seen_ips))
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise ScenarioError("regions: region names must be unique")

    accounts_raw = raw.get("accounts")
    if not isinstance(accounts_raw, list) or not accounts_raw:
        raise ScenarioError("accounts: must be a non-empty array of tables ([[accounts]])")
    accounts: list[AccountSpec] = []
    for i, account_raw in enumerate(accounts_raw):
        accounts.extend(_accounts(account_raw, f"accounts[{i}]", policy, set(names), seed, n_days))
        if len(accounts) > MAX_ACCOUNTS:
            raise ScenarioError(f"accounts: at most {MAX_ACCOUNTS} accounts")
    ids = set()
    for account in accounts:
        if account.account_id in ids:
            raise ScenarioError(f"accounts: account id {account.account_id!r} appears twice")
        ids.add(account.account_id)
    return Scenario(name, description, start, n_days, seed, policy, tuple(regions), tuple(accounts))


def _region(raw: Any, path: str, seen: dict[str, str]) -> RegionSpec:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: must be a table")
    _known(raw, path, {"name", "general_pool", "inventory", "inventory_cidr", "add_general"})
    name = _str(raw, "name", path, None)
    general = tuple(_addresses(raw.get("general_pool", []), f"{path}.general_pool"))
    inventory = _addresses(raw.get("inventory", []), f"{path}.inventory")
    cidrs = raw.get("inventory_cidr", [])
    if isinstance(cidrs, str):
        cidrs = [cidrs]
    if not isinstance(cidrs, list):
        raise ScenarioError(f"{path}.inventory_cidr: must be a CIDR string or a list of them")
    for j, cidr in enumerate(cidrs):
        try:
            network = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            raise ScenarioError(f"{path}.inventory_cidr[{j}]: not a CIDR block: {cidr!r}") from None
        if network.num_addresses > MAX_INVENTORY_PER_CIDR:
            raise ScenarioError(f"{path}.inventory_cidr[{j}]: at most {MAX_INVENTORY_PER_CIDR} addresses")
        inventory.extend(str(a) for a in network.hosts())
    added = _general_added(raw.get("add_general", []), f"{path}.add_general")
    listed = [("general_pool", general), ("inventory", inventory)]
    listed += [(f"add_general[{j}].ips", ips) for j, (_, ips) in enumerate(added)]
    for field, addresses in listed:
        for address in addresses:
            where = f"{path}.{field}"
            if address in seen:
                raise ScenarioError(f"{where}: {address} is already listed in {seen[address]}")
            seen[address] = where
    return RegionSpec(name, general, tuple(inventory), added)


def _general_added(raw: Any, path: str) -> tuple[tuple[int, tuple[str, ...]], ...]:
    if not isinstance(raw, list):
        raise ScenarioError(f'{path}: must be an array of tables, e.g. [{{ day = 20, ips = ["198.51.100.9"] }}]')
    out = []
    for j, entry in enumerate(raw):
        where = f"{path}[{j}]"
        if not isinstance(entry, dict):
            raise ScenarioError(f"{where}: must be a table with day and ips")
        _known(entry, where, {"day", "ips"})
        day = _int(entry, "day", where, None, 0)
        ips = tuple(_addresses(entry.get("ips", []), f"{where}.ips"))
        if not ips:
            raise ScenarioError(f"{where}.ips: must name at least one IP address")
        out.append((day, ips))
    return tuple(out)


def _addresses(raw: Any, path: str) -> list[str]:
    if not isinstance(raw, list):
        raise ScenarioError(f"{path}: must be a list of IP addresses")
    out: list[str] = []
    for j, value in enumerate(raw):
        try:
            out.append(str(ipaddress.ip_address(str(value))))
        except ValueError:
            raise ScenarioError(f"{path}[{j}]: not an IPv4/IPv6 address: {value!r}") from None
    return out


def _accounts(raw: Any, path: str, policy: Policy, regions: set[str], seed: int, n_days: int) -> list[AccountSpec]:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: must be a table")
    fields = {"id", "region", "count", "jitter", "providers", "volume", "outcomes", "spikes", "pauses"}
    _known(raw, path, fields | {"hourly_profile", "throttles", "providers_from"})
    account_id = _str(raw, "id", path, None)
    region = _str(raw, "region", path, None if len(regions) != 1 else next(iter(regions)))
    if region not in regions:
        raise ScenarioError(f"{path}.region: unknown region {region!r} (known: {', '.join(sorted(regions))})")
    count = _int(raw, "count", path, 1, 1)
    jitter = _float(raw, "jitter", path, 0.0, 0.0, 0.99)
    mix = _mix(raw.get("providers"), f"{path}.providers", policy)
    volume = _volume(raw.get("volume"), f"{path}.volume", n_days)
    outcomes = raw.get("outcomes", {})
    if not isinstance(outcomes, dict):
        raise ScenarioError(f"{path}.outcomes: must be a table")
    _known(outcomes, f"{path}.outcomes", {"bounce", "complaint", "deferral"})
    bounce = _float(outcomes, "bounce", f"{path}.outcomes", 0.01, 0.0, 1.0)
    complaint = _float(outcomes, "complaint", f"{path}.outcomes", 0.0002, 0.0, 1.0)
    deferral = _float(outcomes, "deferral", f"{path}.outcomes", 0.03, 0.0, 1.0)
    if bounce + deferral > 1:
        raise ScenarioError(f"{path}.outcomes: bounce + deferral must be <= 1")
    spikes = _spikes(raw.get("spikes", []), f"{path}.spikes", policy)
    pauses = _pauses(raw.get("pauses", []), f"{path}.pauses")
    profile = _hourly_profile(raw.get("hourly_profile"), f"{path}.hourly_profile")
    throttles = _throttles(raw.get("throttles", []), f"{path}.throttles", policy)
    changes = _mix_changes(raw.get("providers_from", []), f"{path}.providers_from", policy, n_days)
    if count == 1:
        return [
            AccountSpec(
                account_id, region, mix, volume, 1.0, bounce, complaint, deferral, spikes, pauses,
                f"{seed}:{account_id}", hourly_profile=profile, throttles=throttles, mix_changes=changes,
            )
        ]  # fmt: skip
    width = len(str(count))
    rng = random.Random(f"{seed}:{account_id}:replicas")
    out = []
    for k in range(1, count + 1):
        scale = 1.0 + rng.uniform(-jitter, jitter) if jitter else 1.0
        replica = f"{account_id}-{k:0{width}d}"
        out.append(
            AccountSpec(
                replica, region, mix, volume, scale, bounce, complaint, deferral, spikes, pauses,
                f"{seed}:{replica}", hourly_profile=profile, throttles=throttles, mix_changes=changes,
            )
        )  # fmt: skip
    return out


def _mix_changes(raw: Any, path: str, policy: Policy, n_days: int) -> tuple[tuple[int, dict[str, float]], ...]:
    """``providers_from = [{ day = 20, providers = { google = 0.6, yahoo = 0.4 } }]``."""
    if not isinstance(raw, list):
        raise ScenarioError(f"{path}: must be a list of {{ day = N, providers = {{ ... }} }}")
    changes: list[tuple[int, dict[str, float]]] = []
    for i, item in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise ScenarioError(f"{where}: must be a table {{ day = N, providers = {{ ... }} }}")
        _known(item, where, {"day", "providers"})
        day = _int(item, "day", where, None, 0)
        if day >= n_days:
            raise ScenarioError(f"{where}.day: must be below the scenario's {n_days} days, got {day}")
        if changes and day <= changes[-1][0]:
            raise ScenarioError(f"{where}.day: must be after the previous change's day {changes[-1][0]}")
        if "providers" not in item:
            raise ScenarioError(f"{where}.providers: missing")
        changes.append((day, _mix(item["providers"], f"{where}.providers", policy)))
    return tuple(changes)


def _mix(raw: Any, path: str, policy: Policy) -> dict[str, float]:
    if raw is None:
        raw = {"google": 0.45, "microsoft": 0.25, "yahoo": 0.12, "apple": 0.1, "other": 0.08}
    if not isinstance(raw, dict) or not raw:
        raise ScenarioError(f"{path}: must be a table of provider = fraction, e.g. {{ google = 0.6, other = 0.4 }}")
    mix: dict[str, float] = {}
    for provider in raw:
        if provider not in policy.mailbox_providers:
            known = ", ".join(policy.mailbox_providers)
            raise ScenarioError(f"{path}.{provider}: unknown mailbox provider (known: {known})")
        mix[provider] = _float(raw, provider, path, None, 0.0, 1.0)
    total = sum(mix.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ScenarioError(f"{path}: fractions must sum to 1, got {total:g}")
    return mix


def _volume(raw: Any, path: str, n_days: int) -> VolumePattern:
    if not isinstance(raw, dict):
        raise ScenarioError(f'{path}: must be a table with a pattern, e.g. {{ pattern = "steady", daily = 5000 }}')
    _known(
        raw,
        path,
        {
            "pattern", "daily", "start", "end", "from_day", "to_day", "curve", "burst", "every",
            "first_burst_day", "weekdays_only", "noise", "points",
        },
    )  # fmt: skip
    kind = _str(raw, "pattern", path, None)
    if kind not in PATTERNS:
        raise ScenarioError(f"{path}.pattern: must be one of {', '.join(PATTERNS)}, got {kind!r}")
    weekdays_only = raw.get("weekdays_only", False)
    if not isinstance(weekdays_only, bool):
        raise ScenarioError(f"{path}.weekdays_only: must be true or false")
    noise = _float(raw, "noise", path, 0.0, 0.0, 0.95)
    if kind in ("steady", "weekday"):
        return VolumePattern(
            kind, daily=_float(raw, "daily", path, None, 0.0), weekdays_only=weekdays_only, noise=noise
        )
    if kind == "bursty":
        return VolumePattern(
            kind,
            daily=_float(raw, "daily", path, 0.0, 0.0),
            burst=_float(raw, "burst", path, None, 0.0),
            every=_int(raw, "every", path, 7, 1),
            first_burst_day=_int(raw, "first_burst_day", path, 0, 0),
            weekdays_only=weekdays_only,
            noise=noise,
        )
    if kind == "points":
        points_raw = raw.get("points")
        if not isinstance(points_raw, list) or not points_raw:
            raise ScenarioError(f"{path}.points: must be a list of [day, volume] pairs")
        points: list[tuple[int, float]] = []
        for j, point in enumerate(points_raw):
            if (
                not isinstance(point, list)
                or len(point) != 2
                or not isinstance(point[0], int)
                or isinstance(point[1], bool)
                or not isinstance(point[1], int | float)
                or point[1] < 0
            ):
                raise ScenarioError(f"{path}.points[{j}]: must be [day, volume] with volume >= 0")
            if points and point[0] <= points[-1][0]:
                raise ScenarioError(f"{path}.points[{j}]: days must increase")
            points.append((point[0], float(point[1])))
        return VolumePattern(kind, points=tuple(points), weekdays_only=weekdays_only, noise=noise)
    curve = _str(raw, "curve", path, "linear")
    if curve not in CURVES:
        raise ScenarioError(f"{path}.curve: must be one of {', '.join(CURVES)}, got {curve!r}")
    start = _float(raw, "start", path, None, 0.0)
    end = _float(raw, "end", path, None, 0.0)
    if kind == "growing" and end < start:
        raise ScenarioError(f"{path}.end: a growing pattern must end >= start")
    if kind == "declining" and end > start:
        raise ScenarioError(f"{path}.end: a declining pattern must end <= start")
    from_day = _int(raw, "from_day", path, 0, 0)
    to_day = _int(raw, "to_day", path, n_days - 1, 0)
    if to_day < from_day:
        raise ScenarioError(f"{path}.to_day: must be >= from_day ({from_day})")
    return VolumePattern(
        kind,
        start=start,
        end=end,
        from_day=from_day,
        to_day=to_day,
        curve=curve,
        weekdays_only=weekdays_only,
        noise=noise,
    )


def _spikes(raw: Any, path: str, policy: Policy) -> tuple[Spike, ...]:
    if not isinstance(raw, list):
        raise ScenarioError(f"{path}: must be an array of tables ([[accounts.spikes]])")
    out = []
    for j, spike in enumerate(raw):
        where = f"{path}[{j}]"
        if not isinstance(spike, dict):
            raise ScenarioError(f"{where}: must be a table")
        _known(spike, where, {"from_day", "to_day", "provider", "bounce", "complaint", "deferral"})
        from_day = _int(spike, "from_day", where, None, 0)
        to_day = _int(spike, "to_day", where, from_day, from_day)
        provider = spike.get("provider")
        if provider is not None and provider not in policy.mailbox_providers:
            raise ScenarioError(f"{where}.provider: unknown mailbox provider {provider!r}")
        rates = [
            _float(spike, name, where, None, 0.0, 1.0) if name in spike else None
            for name in ("bounce", "complaint", "deferral")
        ]
        if all(r is None for r in rates):
            raise ScenarioError(f"{where}: give at least one of bounce, complaint, deferral")
        out.append(Spike(from_day, to_day, provider, rates[0], rates[1], rates[2]))
    return tuple(out)


def _hourly_profile(raw: Any, path: str) -> tuple[float, ...]:
    """24 non-negative weights, one per UTC hour, scaled to sum to 1; absent: flat (``()``)."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) != 24:
        raise ScenarioError(f"{path}: must be a list of 24 numbers, one per UTC hour")
    values = [_float({"h": v}, "h", f"{path}[{h}]", None, 0.0) for h, v in enumerate(raw)]
    total = sum(values)
    if total <= 0:
        raise ScenarioError(f"{path}: at least one hour must be > 0")
    return tuple(v / total for v in values)


def _throttles(raw: Any, path: str, policy: Policy) -> tuple[Throttle, ...]:
    if not isinstance(raw, list):
        raise ScenarioError(
            f'{path}: must be an array of tables, e.g. [{{ day = 12, hour = 9, provider = "microsoft" }}]'
        )
    out = []
    for j, entry in enumerate(raw):
        where = f"{path}[{j}]"
        if not isinstance(entry, dict):
            raise ScenarioError(f"{where}: must be a table with day, hour and provider")
        _known(entry, where, {"day", "hour", "provider"})
        day = _int(entry, "day", where, None, 0)
        hour = _int(entry, "hour", where, 0, 0)
        if hour > 23:
            raise ScenarioError(f"{where}.hour: must be between 0 and 23, got {hour}")
        provider = _str(entry, "provider", where, None)
        if provider not in policy.mailbox_providers:
            raise ScenarioError(f"{where}.provider: unknown mailbox provider {provider!r}")
        out.append(Throttle(day, hour, provider))
    return tuple(out)


def _pauses(raw: Any, path: str) -> tuple[tuple[int, int], ...]:
    if not isinstance(raw, list):
        raise ScenarioError(f"{path}: must be a list of [from_day, to_day] pairs")
    out = []
    for j, pair in enumerate(raw):
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in pair)
            or pair[1] < pair[0]
        ):
            raise ScenarioError(f"{path}[{j}]: must be [from_day, to_day] with 0 <= from_day <= to_day")
        out.append((pair[0], pair[1]))
    return tuple(out)


def _known(raw: Mapping[str, Any], path: str, names: set[str]) -> None:
    for key in raw:
        if key not in names:
            where = f"{path}.{key}" if path else key
            raise ScenarioError(f"{where}: unknown field (known: {', '.join(sorted(names))})")


def _str(raw: Mapping[str, Any], key: str, path: str, default: str | None) -> str:
    where = f"{path}.{key}" if path else key
    value = raw.get(key, default)
    if value is None:
        raise ScenarioError(f"{where}: required")
    if not isinstance(value, str) or (not value and default is None):
        raise ScenarioError(f"{where}: must be a non-empty string, got {value!r}")
    return value


def _int(raw: Mapping[str, Any], key: str, path: str, default: int | None, minimum: int | None) -> int:
    where = f"{path}.{key}" if path else key
    value = raw.get(key, default)
    if value is None:
        raise ScenarioError(f"{where}: required")
    if not isinstance(value, int) or isinstance(value, bool):
        raise ScenarioError(f"{where}: must be a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ScenarioError(f"{where}: must be >= {minimum}, got {value}")
    return value


def _float(
    raw: Mapping[str, Any],
    key: str,
    path: str,
    default: float | None,
    minimum: float,
    maximum: float | None = None,
) -> float:
    where = f"{path}.{key}" if path else key
    value = raw.get(key, default)
    if value is None:
        raise ScenarioError(f"{where}: required")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(f"{where}: must be a number, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum:g} and {maximum:g}" if maximum is not None else f">= {minimum:g}"
        raise ScenarioError(f"{where}: must be {bounds}, got {value:g}")
    return float(value)
