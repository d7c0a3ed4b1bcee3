"""The routing entry as stored: what the rebalancer writes, every router reads back."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from server.router import snapshot
from server.router.loader import apply_entries, apply_entry
from server.router.pacing import Pacer
from server.router.table import CompiledAccount, RoutingTable, compile_account, compile_entry
from store.routing_entry import AccountRoute, DedicatedIP, ProviderRoute, RegionRoute

ROUTE = AccountRoute(
    account_id="acme",
    region="us-east",
    management_type="dedicated",
    day=date(2026, 11, 26),
    pool_id="dedicated-acme",
    providers={
        "google": ProviderRoute(0.25, (DedicatedIP("10.0.0.1", 0.5, 1000), DedicatedIP("10.0.0.2", 0.5, None))),
        "other": ProviderRoute(1.0, (DedicatedIP("10.0.0.1", 1.0, None), DedicatedIP("10.0.0.3", 0.0, 50))),
    },
    hourly_burst=2.0,
    ip_capacity=2_500_000,
)


def test_entries_read_back_as_written() -> None:
    assert AccountRoute.from_json(ROUTE.to_json()) == ROUTE
    region = RegionRoute("us-east", "general-us-east", ("192.0.2.1", "192.0.2.2"))
    assert RegionRoute.from_json(region.to_json()) == region


def test_the_router_compiles_the_stored_text_as_it_compiles_the_route() -> None:
    """The router compiles from the decoded text, producers' tests from the dataclasses: same result."""
    assert compile_entry("account", ROUTE.to_json(), 4) == compile_account(ROUTE, 4)


def test_an_entry_written_before_pacing_reads_as_pacing_off() -> None:
    """Rule 10 came after entries were stored: one without ``hourly_burst`` keeps its
    whole daily limit from midnight, as it did, until the rebalancer writes it again."""
    raw = json.loads(ROUTE.to_json())
    del raw["hourly_burst"]
    old = json.dumps(raw)
    assert AccountRoute.from_json(old).hourly_burst == 0.0
    compiled = compile_entry("account", old, 4)
    assert isinstance(compiled, CompiledAccount)
    assert {route.hourly_burst for route in compiled.routes.values()} == {0.0}
    paced = compile_entry("account", ROUTE.to_json(), 4)
    assert isinstance(paced, CompiledAccount)
    assert {route.hourly_burst for route in paced.routes.values()} == {2.0}


def test_an_entry_written_before_ip_capacity_reads_as_uncapped() -> None:
    """Rule 9 came to the router after entries were stored: one without ``ip_capacity``
    keeps its warm IPs uncapped, as they were, until the rebalancer writes it again."""
    assert AccountRoute.from_json(ROUTE.to_json()).ip_capacity == 2_500_000
    raw = json.loads(ROUTE.to_json())
    del raw["ip_capacity"]
    old = json.dumps(raw)
    assert AccountRoute.from_json(old).ip_capacity is None
    compiled = compile_entry("account", old, 4)
    assert isinstance(compiled, CompiledAccount)
    assert {route.capacity for route in compiled.routes.values()} == {None}
    capped = compile_entry("account", ROUTE.to_json(), 4)
    assert isinstance(capped, CompiledAccount)
    assert {route.capacity for route in capped.routes.values()} == {2_500_000}


async def test_the_snapshot_keeps_the_pacing_of_an_entry(tmp_path: Path) -> None:
    path = tmp_path / "routing.snapshot"
    await snapshot.save(path, "db", 4, {("account", "acme"): (4, ROUTE.to_json())}, Pacer())
    loaded = snapshot.load(path, "db")
    assert loaded is not None
    table = RoutingTable()
    apply_entries(table, loaded[2])
    assert table.accounts["acme"] == compile_account(ROUTE, 4)
    assert table.accounts["acme"].routes["google"].hourly_burst == 2.0


def _edited(change: dict[str, object]) -> str:
    raw = json.loads(ROUTE.to_json())
    raw.update(change)
    return json.dumps(raw)


@pytest.mark.parametrize(
    ("kind", "text", "names"),
    [
        ("account", "not json", "account entry"),
        ("account", _edited({"format": 2}), "$.format"),
        ("account", _edited({"kind": "region"}), "$.kind"),
        ("account", _edited({"management_type": "shared"}), "$.management_type"),
        ("account", _edited({"account_id": None}), "$.account_id"),
        ("account", _edited({"day": "yesterday"}), "$.day"),
        ("account", _edited({"providers": {"google": {"dedicated_share": "half"}}}), "dedicated_share"),
        ("account", _edited({"providers": {"google": {"dedicated_share": 1, "ips": [["10.0.0.1", 1]]}}}), "ips[0]"),
        (
            "account",
            _edited({"providers": {"google": {"dedicated_share": 1, "ips": [["10.0.0.1", 1, 1.5]]}}}),
            "ips[0]",
        ),
        ("region", ROUTE.to_json(), "region entry"),
        ("pool", ROUTE.to_json(), "unknown kind"),
    ],
)
def test_a_malformed_entry_is_refused_with_the_field(kind: str, text: str, names: str) -> None:
    with pytest.raises(ValueError, match="routing entry") as raised:
        compile_entry(kind, text, 1)
    assert names in str(raised.value)


def test_the_loader_skips_a_malformed_entry_and_keeps_the_one_it_had() -> None:
    table = RoutingTable()
    assert apply_entry(table, "account", "acme", 4, ROUTE.to_json())
    assert not apply_entry(table, "account", "acme", 5, _edited({"format": 2}))
    assert table.accounts["acme"].version == 4
    assert table.raw[("account", "acme")][0] == 4
