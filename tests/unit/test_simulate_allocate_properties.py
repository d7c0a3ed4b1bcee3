"""Properties of the simulator's placement of a day (``workers.simulate.allocate``), hypothesis.

The simulator must keep the router's rules, or its charts would promise what the router
does not do: with a general pool to overflow to, no warming pair carries more than its
daily limit (rule 8), released by the hour when the day is placed hour by hour (rule 10),
nor more than a same-day breaker cap (rule 11), and no IP more than ``ip_capacity`` (rule
9); nothing is carried over a limit. Whatever the region, no mail is lost or made up: the
pairs and the overflow together carry exactly the day's dedicated plan.

The checks are written from the SPEC against the entry as written and
``store.hourly_pacing.paced_limit``, not from the allocator's own room bookkeeping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from store.hourly_pacing import HOURS_PER_DAY, paced_limit
from store.routing_entry import AccountRoute, DedicatedIP, ProviderRoute
from workers.simulate.allocate import Allocation, Key, allocate

NAMED = ("google", "microsoft", "other")
ASKED = ("google", "microsoft", "other", "apple")


@dataclass(frozen=True)
class Day:
    route: AccountRoute
    by_provider: dict[str, int]
    has_general_pool: bool
    profile: tuple[float, ...]
    caps: dict[Key, int]
    rested: dict[Key, tuple[float, ...]]


@st.composite
def provider_route(draw: st.DrawFn, addresses: list[str]) -> ProviderRoute:
    """A route as the policy writes it: weights of one provider sum to 1 (or all 0)."""
    chosen = draw(st.lists(st.sampled_from(addresses), unique=True, min_size=1))
    raw = [draw(st.sampled_from([0.0, 1.0, 1.0, 2.0, 5.0])) for _ in chosen]
    total = sum(raw)
    limits = [draw(st.one_of(st.none(), st.integers(0, 400), st.integers(0, 400))) for _ in chosen]
    ips = tuple(
        DedicatedIP(a, w / total if total else 0.0, limit) for a, w, limit in zip(chosen, raw, limits, strict=True)
    )
    return ProviderRoute(draw(st.sampled_from([1.0, 1.0, 0.0, 0.4, 0.9])), ips)


@st.composite
def days(draw: st.DrawFn) -> Day:
    addresses = [f"198.51.100.{i}" for i in range(1, draw(st.integers(1, 4)) + 1)]
    names = draw(st.lists(st.sampled_from(NAMED), unique=True, min_size=1, max_size=len(NAMED)))
    route = AccountRoute(
        "a",
        "r1",
        draw(st.sampled_from(["transition", "dedicated"])),
        date(2025, 1, 1),
        "pool-a",
        {name: draw(provider_route(addresses)) for name in names},
        hourly_burst=draw(st.one_of(st.sampled_from([0.0, 1.0, 2.0]), st.floats(0.1, 24.0))),
        ip_capacity=draw(st.one_of(st.none(), st.integers(0, 1_000))),
    )
    by_provider = {p: draw(st.integers(0, 2_000)) for p in draw(st.lists(st.sampled_from(ASKED), unique=True))}
    profile: tuple[float, ...] = ()
    if draw(st.booleans()):  # a day whose mail is not spread evenly over the hours
        raw = draw(st.lists(st.floats(0.0, 1.0), min_size=HOURS_PER_DAY, max_size=HOURS_PER_DAY))
        if sum(raw) > 0:
            profile = tuple(x / sum(raw) for x in raw)
    keys = sorted({(ip.address, p) for p in by_provider if (r := route.route_for(p)) is not None for ip in r.ips})
    caps: dict[Key, int] = {}
    for key in keys:  # a same-day breaker cap on some pairs (rule 11)
        if draw(st.booleans()):
            caps[key] = draw(st.integers(0, 300))
    rested: dict[Key, tuple[float, ...]] = {}
    if draw(st.booleans()) and keys:  # a throttled pair resting part of some hours (rule 11)
        hours = st.lists(st.sampled_from([0.0, 0.0, 0.5, 1.0]), min_size=HOURS_PER_DAY, max_size=HOURS_PER_DAY)
        rested[draw(st.sampled_from(keys))] = tuple(draw(hours))
    return Day(route, by_provider, draw(st.sampled_from([True, True, True, False])), profile, caps, rested)


def limits_of(route: AccountRoute, by_provider: Mapping[str, int]) -> dict[Key, int | None]:
    """Each pair the day's mail may use, with its limit, from the entry as written."""
    out: dict[Key, int | None] = {}
    for provider in by_provider:
        r = route.route_for(provider)
        if r is not None and r.dedicated_share > 0:
            out.update({(ip.address, provider): ip.daily_limit for ip in r.ips if ip.weight > 0})
    return out


def planned_total(route: AccountRoute, by_provider: Mapping[str, int]) -> int:
    """The day's dedicated plan: each live pair's rounded part (rule 3's split)."""
    total = 0
    for provider, volume in by_provider.items():
        r = route.route_for(provider)
        if r is None or volume <= 0 or r.dedicated_share <= 0:
            continue
        total += sum(round(volume * r.dedicated_share * ip.weight) for ip in r.ips if ip.weight > 0)
    return total


def check_within(day: Day, placed: Allocation) -> None:
    route = day.route
    limits = limits_of(route, day.by_provider)
    assert set(placed.sends) <= set(limits), "mail placed on a pair outside the route"
    for key, n in placed.sends.items():
        assert n >= 0, (key, n)
        bound = [b for b in (limits[key], day.caps.get(key)) if b is not None]
        assert n <= min(bound, default=n), f"{key}: {n} > limit/cap {bound}"
    loads: dict[str, int] = {}
    for (address, _), n in placed.sends.items():
        loads[address] = loads.get(address, 0) + n
    if route.ip_capacity is not None:
        for address, load in loads.items():
            assert load <= route.ip_capacity, f"{address}: {load} > ip_capacity {route.ip_capacity}"
    for hour, so_far in enumerate(placed.by_hour):
        for key, n in so_far.items():
            limit = limits[key]
            if limit is not None:
                allowed = paced_limit(limit, hour, route.hourly_burst)
                assert n <= allowed, f"{key}: {n} by the end of hour {hour} > {allowed}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(day=days())
def test_no_pair_over_its_limit_no_ip_over_its_capacity_and_no_mail_lost(day: Day) -> None:
    placed = allocate(
        day.route, day.by_provider, day.has_general_pool, profile=day.profile, caps=day.caps, rested=day.rested
    )
    # Conservation: what the pairs carry and what overflowed is the day's dedicated plan.
    assert sum(placed.sends.values()) + placed.overflow == planned_total(day.route, day.by_provider)
    if not day.has_general_pool:
        assert placed.overflow == 0
        event("no general pool")
        return
    check_within(day, placed)
    assert placed.over_limit == 0
    uneven = bool(day.profile) and max(day.profile) - min(day.profile) > 1e-9
    if day.route.hourly_burst and (uneven or 0 < day.route.hourly_burst < 1 or day.rested):
        assert placed.by_hour, "pacing can bind, yet the day was placed in one step"
    event("by the hour" if placed.by_hour else "in one step")
    if placed.overflow:
        event("overflowed")
