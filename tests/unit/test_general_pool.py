"""SPEC rule 12 (v2): a general-pool IP ramps in, weighted by its stage's limit."""

from __future__ import annotations

from collections import Counter

import pytest

from server.router.pick import draw, pick
from server.router.table import compile_region
from store.general_pool import general_weights, stage_weight, warmup_percent
from store.routing_entry import RegionRoute

SCHEDULE = (100, 1000, 10_000)


def test_a_new_ip_weighs_its_stages_limit_and_a_warm_one_the_last() -> None:
    assert stage_weight(0, SCHEDULE) == 100
    assert stage_weight(2, SCHEDULE) == 10_000
    assert stage_weight(None, SCHEDULE) == stage_weight(3, SCHEDULE) == 10_000
    weights = general_weights([None, None, 0], SCHEDULE)
    assert weights == pytest.approx((10_000 / 20_100, 10_000 / 20_100, 100 / 20_100))


def test_the_weight_grows_with_the_stage_until_shares_are_equal() -> None:
    new = [general_weights([None, None, s], SCHEDULE)[2] for s in (0, 1)]
    assert new[0] < new[1] < 1 / 3
    # The last stage's limit is the warm weight: from there the shares are equal.
    assert general_weights([None, None, 2], SCHEDULE) == general_weights([None, None, 3], SCHEDULE) == ()
    assert general_weights([None, None, None], SCHEDULE) == ()


def test_a_fresh_region_of_new_ips_shares_equally() -> None:
    assert general_weights([0, 0, 0], SCHEDULE) == ()
    assert general_weights([], SCHEDULE) == ()


def test_the_v1_rules_give_every_general_ip_an_equal_share() -> None:
    assert general_weights([None, 0], SCHEDULE, "v1") == ()


def test_warmup_percent() -> None:
    assert warmup_percent(0, SCHEDULE) == 0.0
    assert warmup_percent(1, SCHEDULE) == pytest.approx(100 / 3)
    assert warmup_percent(None, SCHEDULE) == 100.0


def test_the_entry_keeps_its_weights_and_an_equal_pool_keeps_its_old_text() -> None:
    route = RegionRoute("us-east", "general:us-east", ("10.0.0.1", "10.0.0.2"), (0.9, 0.1))
    assert RegionRoute.from_json(route.to_json()) == route
    equal = RegionRoute("us-east", "general:us-east", ("10.0.0.1", "10.0.0.2"))
    assert "weights" not in equal.to_json()
    assert RegionRoute.from_json(equal.to_json()) == equal


def test_the_router_picks_general_ips_by_weight() -> None:
    region = compile_region(RegionRoute("us-east", "g", ("10.0.0.1", "10.0.0.2"), (0.9, 0.1)), 1)
    seen: Counter[str] = Counter()
    for n in range(20_000):
        u, k = draw("acme", f"m{n}")
        seen[pick(None, region, "us-east", "google", u, k, lambda *_: True).ip] += 1
    assert seen["10.0.0.2"] / 20_000 == pytest.approx(0.1, abs=0.01)


def test_an_equal_pool_picks_as_before() -> None:
    region = compile_region(RegionRoute("us-east", "g", ("10.0.0.1", "10.0.0.2", "10.0.0.3")), 1)
    assert region.cumulative == ()
    u, k = draw("acme", "m1")
    assert pick(None, region, "us-east", "google", u, k, lambda *_: True).ip == region.addresses[k % 3]
