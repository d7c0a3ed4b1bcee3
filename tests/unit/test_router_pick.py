"""The pick: weighted, deterministic, limits respected (pure, no I/O)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from datetime import date

import pytest

from sendingip.v1 import types_pb2
from server.router.pick import NoGeneralPool, draw, pick
from server.router.table import CompiledAccount, CompiledRegion, compile_account, compile_region
from store.routing_entry import AccountRoute, DedicatedIP, ProviderRoute, RegionRoute

REGION = compile_region(RegionRoute("us-east", "general-us-east", ("10.0.0.1", "10.0.0.2", "10.0.0.3")), 7)


def _account(management_type: str = "transition", **providers: ProviderRoute) -> CompiledAccount:
    route = AccountRoute(
        account_id="acme",
        region="us-east",
        management_type=management_type,  # type: ignore[arg-type]
        day=date(2025, 1, 1),
        pool_id="dedicated-acme",
        providers=providers,
    )
    return compile_account(route, 9)


def _unlimited(_address: str, _provider: str, _limit: int, _burst: float) -> bool:
    return True


def _full(_address: str, _provider: str, _limit: int, _burst: float) -> bool:
    return False


def _within(observed: int, n: int, p: float) -> bool:
    """Observed count within 5 standard deviations of a binomial(n, p): fails ~1 in 3.5 million."""
    return abs(observed - n * p) <= 5 * math.sqrt(n * p * (1 - p)) + 1


def test_shares_per_provider_follow_the_entry_over_100k_picks() -> None:
    account = _account(
        google=ProviderRoute(
            0.3,
            (
                DedicatedIP("198.51.100.1", 0.5, None),
                DedicatedIP("198.51.100.2", 0.3, None),
                DedicatedIP("198.51.100.3", 0.2, None),
            ),
        ),
        other=ProviderRoute(0.8, (DedicatedIP("198.51.100.1", 0.25, None), DedicatedIP("198.51.100.2", 0.75, None))),
    )
    n = 100_000
    expected = {
        "google": {
            "198.51.100.1": 0.3 * 0.5,
            "198.51.100.2": 0.3 * 0.3,
            "198.51.100.3": 0.3 * 0.2,
            **{ip: 0.7 / 3 for ip in REGION.addresses},
        },
        # yahoo has no route of its own: the "other" route applies.
        "yahoo": {"198.51.100.1": 0.8 * 0.25, "198.51.100.2": 0.8 * 0.75, **{ip: 0.2 / 3 for ip in REGION.addresses}},
    }
    for provider, shares in expected.items():
        seen = Counter(
            pick(account, REGION, "us-east", provider, *draw("acme", f"<{i}@{provider}.example>"), _unlimited).ip
            for i in range(n)
        )
        assert set(seen) == set(shares), provider
        for ip, p in shares.items():
            assert _within(seen[ip], n, p), (provider, ip, seen[ip] / n, p)


def test_general_accounts_and_unknown_accounts_spread_evenly_over_the_general_pool() -> None:
    n = 30_000
    for account in (None, _account("general", other=ProviderRoute(1.0, (DedicatedIP("198.51.100.1", 1, None),)))):
        seen = Counter(pick(account, REGION, "us-east", "other", *draw("a", str(i)), _unlimited).ip for i in range(n))
        assert set(seen) == set(REGION.addresses)
        assert all(_within(c, n, 1 / 3) for c in seen.values()), seen


def test_draining_ips_with_no_weight_get_nothing() -> None:
    account = _account(
        "dedicated",
        other=ProviderRoute(1.0, (DedicatedIP("198.51.100.1", 1.0, None), DedicatedIP("198.51.100.9", 0.0, 0))),
    )
    ips = {pick(account, REGION, "us-east", "google", *draw("a", str(i)), _unlimited).ip for i in range(5000)}
    assert ips == {"198.51.100.1"}


def test_the_draw_is_a_fixed_function_of_its_inputs() -> None:
    # Pinned: changing the hash would move every in-flight message to another IP.
    assert draw("acme", "<1@example.com>") == (0.4730403840764922, 16669638823271853842)


PROGRAM = """
import json, sys
from server.router.pick import draw
print(json.dumps([draw("acct-%d" % (i % 7), "<%d@mta>" % i) for i in range(2000)]))
"""


def test_two_processes_with_different_hash_seeds_pick_alike() -> None:
    results = []
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", PROGRAM],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        results.append([tuple(x) for x in json.loads(out)])
    here = [draw(f"acct-{i % 7}", f"<{i}@mta>") for i in range(2000)]
    assert results[0] == results[1] == here


def test_a_transition_pair_at_its_limit_overflows_to_the_general_pool() -> None:
    account = _account(other=ProviderRoute(1.0, (DedicatedIP("198.51.100.1", 1.0, 200),)))
    choice = pick(account, REGION, "us-east", "google", *draw("a", "m"), _full)
    assert choice.pool_type == types_pb2.POOL_TYPE_GENERAL
    assert choice.overflow and choice.ip in REGION.addresses and choice.pool_id == "general-us-east"


def test_a_dedicated_pair_at_its_limit_overflows_to_the_pool_ips_with_headroom() -> None:
    account = _account(
        "dedicated",
        other=ProviderRoute(
            1.0,
            (
                DedicatedIP("198.51.100.1", 0.5, 200),
                DedicatedIP("198.51.100.2", 0.25, 500),
                DedicatedIP("198.51.100.3", 0.25, None),
            ),
        ),
    )

    def only_1_full(address: str, _provider: str, _limit: int, _burst: float) -> bool:
        return address != "198.51.100.1"

    seen: Counter[tuple[str, bool]] = Counter()
    for i in range(4000):
        choice = pick(account, REGION, "us-east", "other", *draw("a", str(i)), only_1_full)
        seen[(choice.ip, choice.overflow)] += 1
        assert choice.pool_type == types_pb2.POOL_TYPE_DEDICATED
    # .1 is never used; its traffic is shared by .2 and .3 in proportion to their weights.
    assert set(seen) == {
        ("198.51.100.2", False),
        ("198.51.100.3", False),
        ("198.51.100.2", True),
        ("198.51.100.3", True),
    }
    assert _within(seen[("198.51.100.2", True)], seen[("198.51.100.2", True)] + seen[("198.51.100.3", True)], 0.5)

    # With every limited IP full, only the warm one is left; with none left, the general pool.
    def all_limited_full(_a: str, _p: str, _l: int, _b: float) -> bool:
        return False

    assert {pick(account, REGION, "us-east", "other", *draw("a", str(i)), all_limited_full).ip for i in range(500)} >= {
        "198.51.100.3"
    }
    only_limited = _account("dedicated", other=ProviderRoute(1.0, (DedicatedIP("198.51.100.1", 1.0, 10),)))
    choice = pick(only_limited, REGION, "us-east", "other", *draw("a", "m"), all_limited_full)
    assert (choice.pool_type, choice.overflow) == (types_pb2.POOL_TYPE_GENERAL, True)


def test_mail_is_never_refused_for_capacity_even_with_no_general_pool() -> None:
    account = _account("dedicated", other=ProviderRoute(1.0, (DedicatedIP("198.51.100.1", 1.0, 10),)))
    choice = pick(account, None, "us-east", "other", *draw("a", "m"), _full)
    assert (choice.ip, choice.overflow, choice.limit) == ("198.51.100.1", False, 10)


def test_a_region_without_general_ips_is_named_in_the_error() -> None:
    empty = CompiledRegion("eu-west", "general-eu-west", (), 3)
    for region in (None, empty):
        with pytest.raises(NoGeneralPool, match="region 'eu-west' has no general pool IPs"):
            pick(None, region, "eu-west", "other", *draw("a", "m"), _unlimited)
