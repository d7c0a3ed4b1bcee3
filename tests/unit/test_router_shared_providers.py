"""A provider an entry names with ``dedicated_share`` 0 goes to the general pool, not to the
``other`` route (SPEC rule 13: a provider new to a Dedicated account; rule 3: a provider
without capacity in Transition). Only a provider the entry does not name falls back."""

from __future__ import annotations

from datetime import date

import pytest

from sendingip.v1 import types_pb2
from server.router.pick import draw, pick
from server.router.table import compile_account, compile_region
from store.routing_entry import AccountRoute, DedicatedIP, ProviderRoute, RegionRoute

REGION = compile_region(RegionRoute("us-east", "general-us-east", ("10.0.0.1", "10.0.0.2")), 7)
WARM = ProviderRoute(1.0, (DedicatedIP("198.51.100.1", 1.0, None),))
NONE_YET = ProviderRoute(0.0, (DedicatedIP("198.51.100.1", 0.0, 0),))


def _unlimited(_address: str, _provider: str, _limit: int, _burst: float) -> bool:
    return True


@pytest.mark.parametrize("management_type", ["dedicated", "transition"])
def test_a_named_provider_with_no_dedicated_share_goes_to_the_general_pool_unflagged(management_type: str) -> None:
    entry = AccountRoute(
        "acme",
        "us-east",
        management_type,  # type: ignore[arg-type]
        date(2025, 1, 1),
        "dedicated:acme",
        {"google": WARM, "yahoo": NONE_YET, "other": WARM},
    )
    account = compile_account(entry, 9)
    assert account.shared == frozenset({"yahoo"})
    for i in range(200):
        u, k = draw("acme", f"m{i}")
        yahoo = pick(account, REGION, "us-east", "yahoo", u, k, _unlimited)
        assert (yahoo.pool_type, yahoo.overflow) == (types_pb2.POOL_TYPE_GENERAL, False)
        assert yahoo.ip in REGION.addresses
        # A provider the entry does not name takes the ``other`` route.
        unnamed = pick(account, REGION, "us-east", "gmx", u, k, _unlimited)
        assert (unnamed.pool_type, unnamed.ip) == (types_pb2.POOL_TYPE_DEDICATED, "198.51.100.1")
