"""The v2 IP inventory calls (SPEC §3): ListIPs, ListRegions, RemoveIPs, BlockIPs, UnblockIPs,
AssignIPs, DeleteAccount and AddIPs' hostnames, over gRPC with real API keys on a real
PostgreSQL; what they publish is checked in the routing entries and through a real router."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import grpc
import pytest

from sendingip.v1 import management_pb2, types_pb2
from store.routing_entry import AccountRoute, DedicatedIP, ProviderRoute, RegionRoute
from tests.support.inprocess import QUICK, InProcessServer, Servers, server_config
from tests.support.management import Api, management_api
from tests.support.requests import pick_request
from tests.support.routing import publish, seed_region
from workers.rebalance.run import rebalance

pytestmark = pytest.mark.integration

D0 = date(2026, 3, 1)
GENERAL = ("192.0.2.1", "192.0.2.2", "192.0.2.3")
INVENTORY = ("203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.10")
PROVIDERS = ("google", "microsoft", "yahoo", "apple", "other")
Code = grpc.StatusCode
M = management_pb2


@pytest.fixture
async def api(db_url: str, db: asyncpg.Connection) -> AsyncIterator[Api]:
    async with management_api(db_url, db, clock=lambda: datetime(2026, 3, 1, 12, tzinfo=UTC)) as api:
        await seed_region(db, addresses=GENERAL, inventory=INVENTORY)
        await api.call("CreateAccount", M.CreateAccountRequest(account_id="acme", region="us-east"))
        yield api


@pytest.fixture
async def router(db_url: str, tmp_path: Path) -> AsyncIterator[Callable[[], asyncio.Future[InProcessServer]]]:
    servers = Servers()

    async def start() -> InProcessServer:
        config = server_config(db_url, tmp_path, {**QUICK, "poll_interval": 30.0, "metrics_listen": "127.0.0.1:0"})
        return await servers.start(config)

    try:
        yield start  # type: ignore[misc]
    finally:
        await servers.stop()


async def with_history(db: asyncpg.Connection, account: str, per_day: int = 10_000) -> None:
    """30 days of ``per_day`` messages before D0: enough for a dedicated pool of one IP."""
    await db.executemany(
        "INSERT INTO daily_history (day, account_id, ip, mailbox_provider, imported) VALUES ($1, $2, '', $3, $4)",
        [(D0 - timedelta(days=d + 1), account, p, per_day // len(PROVIDERS)) for d in range(30) for p in PROVIDERS],
    )


async def transition(api: Api, day: date = D0) -> None:
    """acme in Transition with a dedicated pool, by a rebalance as in production."""
    await with_history(api.db, "acme")
    report = await rebalance(api.pool, day)
    assert report.failed == 0
    assert await api.db.fetchval("SELECT management_type FROM accounts WHERE account_id = 'acme'") == "transition"


async def list_ips(api: Api, key: str = "view", **filters: object) -> dict[str, M.InventoryIP]:
    response = await api.call("ListIPs", M.ListIPsRequest(**filters), key)  # type: ignore[arg-type]
    return {ip.address: ip for ip in response.ips}


async def region_entry(db: asyncpg.Connection) -> tuple[int, RegionRoute]:
    row = await db.fetchrow("SELECT version, entry::text AS e FROM routing_entries WHERE kind = 'region'")
    return row["version"], RegionRoute.from_json(row["e"])


async def account_entry(db: asyncpg.Connection, account: str = "acme") -> tuple[int, AccountRoute]:
    row = await db.fetchrow(
        "SELECT version, entry::text AS e FROM routing_entries WHERE kind = 'account' AND key = $1", account
    )
    return row["version"], AccountRoute.from_json(row["e"])


def dedicated_addresses(route: AccountRoute) -> set[str]:
    return {ip.address for p in route.providers.values() for ip in p.ips}


async def audit_kinds(db: asyncpg.Connection) -> list[tuple[str, str | None, list[str]]]:
    rows = await db.fetch("SELECT kind, account_id, addresses FROM audit_events ORDER BY id")
    return [(r["kind"], r["account_id"], list(r["addresses"])) for r in rows]


async def until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def picks(server: InProcessServer, account: str, n: int = 300) -> set[str]:
    found = set()
    for i in range(n):
        request = pick_request(f"<{i}@inventory.test>", account, retry=True)
        found.add((await server.stub.SelectSendingIP(request, metadata=server.metadata)).ip)
    return found


# -- AddIPs hostnames, ListIPs, ListRegions --------------------------------------------------


async def test_add_ips_with_hostnames_shows_and_replaces_them(api: Api) -> None:
    request = M.AddIPsRequest(
        region="us-east",
        addresses=["198.51.100.7", "198.51.100.8"],
        hostnames=["MTA7.Example.COM.", ""],
        purpose=types_pb2.IP_PURPOSE_INVENTORY,
    )
    assert (await api.call("AddIPs", request)).added == 2
    shown = await list_ips(api)
    assert (shown["198.51.100.7"].hostname, shown["198.51.100.8"].hostname) == ("mta7.example.com", "")
    again = M.AddIPsRequest(
        region="us-east", addresses=["198.51.100.8"], hostnames=["mta8.example.com"], purpose=request.purpose
    )
    assert (await api.call("AddIPs", again)).already_present == 1
    assert (await list_ips(api))["198.51.100.8"].hostname == "mta8.example.com"
    assert [(k, a) for k, _, a in await audit_kinds(api.db) if k == "AddIPs"] == [
        ("AddIPs", ["198.51.100.7", "198.51.100.8"]),
        ("AddIPs", ["198.51.100.8"]),
    ]

    code, message = await api.fails(
        "AddIPs",
        M.AddIPsRequest(
            region="us-east",
            addresses=["198.51.100.9"],
            hostnames=["bad_name.example"],
            purpose=types_pb2.IP_PURPOSE_INVENTORY,
        ),
    )
    assert code == Code.INVALID_ARGUMENT and message.startswith("hostnames[0]: 'bad_name.example' must be a DNS name")
    code, message = await api.fails(
        "AddIPs",
        M.AddIPsRequest(
            region="us-east",
            addresses=["198.51.100.9"],
            hostnames=["a" * 64 + ".example"],
            purpose=types_pb2.IP_PURPOSE_INVENTORY,
        ),
    )
    assert code == Code.INVALID_ARGUMENT
    code, message = await api.fails(
        "AddIPs",
        M.AddIPsRequest(
            region="us-east",
            addresses=["198.51.100.9", "198.51.100.10"],
            hostnames=["a.example"],
            purpose=types_pb2.IP_PURPOSE_INVENTORY,
        ),
    )
    assert code == Code.INVALID_ARGUMENT and message.startswith("hostnames: give none or one per address")
    assert "198.51.100.9" not in await list_ips(api)


async def test_list_ips_states_order_pages_and_scope(api: Api) -> None:
    await api.call(
        "AddIPs",
        M.AddIPsRequest(region="us-east", addresses=["2001:db8::5"], purpose=types_pb2.IP_PURPOSE_INVENTORY),
    )
    await transition(api)  # acme takes 203.0.113.1, the lowest free address
    everything = await api.call("ListIPs", M.ListIPsRequest(), "view")
    assert [ip.address for ip in everything.ips] == [
        *GENERAL,
        *INVENTORY,  # numeric order: .10 after .4 (text order would put it first)
        "2001:db8::5",  # IPv6 after IPv4
    ]
    by_address = {ip.address: ip for ip in everything.ips}
    assert [by_address[a].state for a in GENERAL] == ["general"] * 3
    acme_ip = by_address["203.0.113.1"]
    assert (acme_ip.state, acme_ip.account_id, acme_ip.pool_id, acme_ip.since) == (
        "assigned",
        "acme",
        "dedicated:acme",
        "2026-03-01",
    )
    assert by_address["203.0.113.2"].state == "free" and by_address["203.0.113.2"].account_id == ""

    pages, token = [], ""
    while True:
        page = await api.call("ListIPs", M.ListIPsRequest(page_size=3, page_token=token), "view")
        pages.append([ip.address for ip in page.ips])
        token = page.next_page_token
        if not token:
            break
    assert [a for p in pages for a in p] == [ip.address for ip in everything.ips] and len(pages) == 3
    first = await api.call("ListIPs", M.ListIPsRequest(page_size=1), "view")
    code, message = await api.fails("ListIPs", M.ListIPsRequest(state="free", page_token=first.next_page_token))
    assert code == Code.INVALID_ARGUMENT and "other filters" in message

    assert list(await list_ips(api, state="free")) == [
        "203.0.113.2",
        "203.0.113.3",
        "203.0.113.4",
        "203.0.113.10",
        "2001:db8::5",
    ]
    assert list(await list_ips(api, account_id="acme")) == ["203.0.113.1"]
    assert list(await list_ips(api, "view_acme")) == ["203.0.113.1"]  # a scoped key: its accounts' IPs only
    assert (await api.fails("ListIPs", M.ListIPsRequest(account_id="other"), "view_acme"))[0] == Code.PERMISSION_DENIED
    code, message = await api.fails("ListIPs", M.ListIPsRequest(state="busy"))
    assert code == Code.INVALID_ARGUMENT and message.startswith("state: 'busy' is not one of general, free")

    regions = (await api.call("ListRegions", M.ListRegionsRequest(), "view")).regions
    assert [
        (
            r.name,
            r.general_ips,
            r.free_ips,
            r.assigned_ips,
            r.draining_ips,
            r.quarantined_ips,
            r.blocked_ips,
            r.accounts,
        )
        for r in regions
    ] == [("us-east", 3, 5, 1, 0, 0, 0, 1)]


# -- RemoveIPs ---------------------------------------------------------------------------------


async def test_remove_ips_free_at_once_assigned_and_general_after_draining(api: Api) -> None:
    await transition(api)
    await api.db.execute(
        "UPDATE ip_addresses SET state = 'quarantine', quarantine_until = '2026-03-20' WHERE address = '203.0.113.3'"
    )
    general_before, _ = await region_entry(api.db)
    account_before, route = await account_entry(api.db)
    assert dedicated_addresses(route) == {"203.0.113.1"}

    removed = await api.call(
        "RemoveIPs", M.RemoveIPsRequest(addresses=["203.0.113.2", "203.0.113.3", "203.0.113.1", "192.0.2.1"])
    )
    assert (removed.removed, removed.draining) == (2, 2)
    shown = await list_ips(api)
    assert "203.0.113.2" not in shown and "203.0.113.3" not in shown  # free and quarantined: gone at once
    assert (shown["203.0.113.1"].state, shown["192.0.2.1"].state) == ("draining", "draining")
    # Their traffic moves elsewhere from the versions this call published.
    version, general = await region_entry(api.db)
    assert version > general_before and general.addresses == ("192.0.2.2", "192.0.2.3")
    version, route = await account_entry(api.db)
    assert version > account_before and dedicated_addresses(route) == set()
    assert ("RemoveIPs", "acme", ["203.0.113.1"]) in await audit_kinds(api.db)

    # Removing again is harmless; an address the system does not hold is NOT_FOUND, all or none.
    again = await api.call("RemoveIPs", M.RemoveIPsRequest(addresses=["192.0.2.1"]))
    assert (again.removed, again.draining) == (0, 1)
    code, message = await api.fails("RemoveIPs", M.RemoveIPsRequest(addresses=["203.0.113.4", "198.51.100.99"]))
    assert (code, message) == (Code.NOT_FOUND, "addresses not held by the system: 198.51.100.99")
    assert "203.0.113.4" in await list_ips(api)

    for day in range(1, 4):  # the rebalancer deletes them once drained (drain_days = 1), never to inventory
        assert (await rebalance(api.pool, D0 + timedelta(days=day))).failed == 0
    shown = await list_ips(api)
    assert "203.0.113.1" not in shown and "192.0.2.1" not in shown
    assert await api.db.fetchval("SELECT count(*) FROM ip_addresses WHERE address IN ('203.0.113.1', '192.0.2.1')") == 0


async def test_remove_ips_refuses_the_last_general_ips_of_a_region_with_accounts(api: Api) -> None:
    code, message = await api.fails("RemoveIPs", M.RemoveIPsRequest(addresses=list(GENERAL)))
    assert code == Code.FAILED_PRECONDITION
    assert message == (
        "cannot remove the last usable general IPs of region 'us-east': its accounts would have no shared pool; "
        "add general IPs first (sendingip ips add --region us-east --general ADDRESS)"
    )
    assert [ip.state for ip in (await list_ips(api, state="general")).values()] == ["general"] * 3
    # Blocked general IPs are not usable: the last unblocked one is refused too.
    await api.call("BlockIPs", M.BlockIPsRequest(addresses=["192.0.2.1", "192.0.2.2"], reason="SBL"))
    assert (await api.fails("RemoveIPs", M.RemoveIPsRequest(addresses=["192.0.2.3"])))[0] == Code.FAILED_PRECONDITION
    assert (await api.fails("BlockIPs", M.BlockIPsRequest(addresses=["192.0.2.3"], reason="x")))[0] == (
        Code.FAILED_PRECONDITION
    )
    # Removing a blocked one leaves as many usable ones: allowed.
    assert (await api.call("RemoveIPs", M.RemoveIPsRequest(addresses=["192.0.2.1"]))).draining == 1
    assert (
        await api.fails(
            "RemoveIPs",
            M.RemoveIPsRequest(
                addresses=["10.0.0.1"],
            ),
            "admin_acme",
        )
    )[0] == (Code.PERMISSION_DENIED)


async def test_two_concurrent_removes_never_both_take_the_last_general_ips(api: Api) -> None:
    await api.db.execute("DELETE FROM ip_addresses WHERE address = '192.0.2.3'")
    for _ in range(5):
        results = await asyncio.gather(
            api.call("RemoveIPs", M.RemoveIPsRequest(addresses=["192.0.2.1"])),
            api.call("RemoveIPs", M.RemoveIPsRequest(addresses=["192.0.2.2"])),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
        assert len(refused) == 1 and refused[0].code() == Code.FAILED_PRECONDITION, results
        left = await list_ips(api, state="general")
        assert len(left) == 1
        _, entry = await region_entry(api.db)
        assert entry.addresses == tuple(left)
        # Put the removed one back for the next round.
        await api.db.execute(
            "UPDATE ip_addresses SET state = 'general', pool_id = 'general:us-east', quarantine_until = NULL, "
            "removing_since = NULL WHERE state = 'quarantine' AND removing_since IS NOT NULL"
        )


# -- BlockIPs / UnblockIPs ------------------------------------------------------------------------


async def test_a_blocked_ip_takes_no_traffic_from_the_next_version_and_is_replaced(
    api: Api, router: Callable[[], asyncio.Future[InProcessServer]]
) -> None:
    await transition(api)
    # All of acme's mail through its warm dedicated IP, so that every pick shows where it goes.
    _, planned = await account_entry(api.db)
    warm = ProviderRoute(1.0, (DedicatedIP("203.0.113.1", 1.0, None),))
    await publish(api.db, replace(planned, providers={p: warm for p in PROVIDERS}))
    server = await router()
    assert "192.0.2.1" in await picks(server, "nobody")
    assert "203.0.113.1" in await picks(server, "acme")

    blocked = await api.call(
        "BlockIPs", M.BlockIPsRequest(addresses=["192.0.2.1", "203.0.113.1", "203.0.113.2"], reason="listed on SBL")
    )
    assert (blocked.blocked, blocked.already_blocked) == (3, 0)
    general_version, general = await region_entry(api.db)
    account_version, route = await account_entry(api.db)
    assert general.addresses == ("192.0.2.2", "192.0.2.3") and dedicated_addresses(route) == set()
    await until(lambda: server.runtime.table.version >= max(general_version, account_version))
    assert "192.0.2.1" not in await picks(server, "nobody")
    assert not {"192.0.2.1", "203.0.113.1"} & await picks(server, "acme")

    shown = await list_ips(api)
    assert (shown["203.0.113.1"].state, shown["203.0.113.1"].account_id, shown["203.0.113.1"].blocked_reason) == (
        "blocked",
        "acme",
        "listed on SBL",
    )
    events = await api.db.fetch(
        "SELECT account_id, addresses, before, after, reason FROM audit_events WHERE kind = 'BlockIPs' ORDER BY id"
    )
    assert [(e["account_id"], list(e["addresses"])) for e in events] == [
        (None, ["192.0.2.1", "203.0.113.2"]),
        ("acme", ["203.0.113.1"]),
    ]
    assert json.loads(events[1]["before"]) == {"203.0.113.1": "assigned"}
    assert json.loads(events[1]["after"]) == {"203.0.113.1": "blocked"} and events[1]["reason"] == "listed on SBL"

    # The account's table lists what sends: not the blocked IP, nor the general one.
    status = await api.call("ListSendingIPs", M.ListSendingIPsRequest(account_id="acme"), "view")
    assert [ip.address for ip in status.ips] == ["192.0.2.2", "192.0.2.3"] and status.account.dedicated_ip_count == 0

    # The next run replaces the blocked IP from inventory, skipping the blocked free one.
    assert (await rebalance(api.pool, D0 + timedelta(days=1))).failed == 0
    assert list(await list_ips(api, state="assigned")) == ["203.0.113.3"]
    _, route = await account_entry(api.db)
    assert dedicated_addresses(route) == {"203.0.113.3"}

    again = await api.call("BlockIPs", M.BlockIPsRequest(addresses=["192.0.2.1"], reason="listed on CBL"))
    assert (again.blocked, again.already_blocked) == (0, 1)
    assert (await list_ips(api))["192.0.2.1"].blocked_reason == "listed on CBL"
    unblocked = await api.call("UnblockIPs", M.UnblockIPsRequest(addresses=["192.0.2.1", "192.0.2.2"]))
    assert (unblocked.unblocked, unblocked.not_blocked) == (1, 1)
    version, general = await region_entry(api.db)
    assert general.addresses == GENERAL
    await until(lambda: server.runtime.table.version >= version)
    assert "192.0.2.1" in await picks(server, "nobody")


async def test_block_ips_refuses_bad_input(api: Api) -> None:
    code, message = await api.fails("BlockIPs", M.BlockIPsRequest(addresses=["192.0.2.1"], reason=" "))
    assert code == Code.INVALID_ARGUMENT and message.startswith("reason: required")
    code, message = await api.fails("BlockIPs", M.BlockIPsRequest(addresses=["not-an-ip"], reason="x"))
    assert code == Code.INVALID_ARGUMENT and message.startswith("addresses[0]:")
    assert (await api.fails("BlockIPs", M.BlockIPsRequest(addresses=[], reason="x")))[0] == Code.INVALID_ARGUMENT
    assert (await api.fails("UnblockIPs", M.UnblockIPsRequest(addresses=["192.0.2.1"]), "view"))[0] == (
        Code.PERMISSION_DENIED
    )
    assert await api.db.fetchval("SELECT count(*) FROM ip_addresses WHERE blocked_reason IS NOT NULL") == 0


# -- AssignIPs ----------------------------------------------------------------------------------


async def test_assign_ips_hands_free_ips_to_a_dedicated_pool(api: Api) -> None:
    request = M.AssignIPsRequest(account_id="acme", addresses=["203.0.113.4"])
    code, message = await api.fails("AssignIPs", request)
    assert code == Code.FAILED_PRECONDITION and "sendingip accounts mode acme dedicated" in message
    assert (await api.fails("AssignIPs", M.AssignIPsRequest(account_id="nobody", addresses=["203.0.113.4"])))[0] == (
        Code.NOT_FOUND
    )
    await transition(api)

    response = await api.call("AssignIPs", request)
    assert response.assigned == 1 and response.account.dedicated_ip_count == 2
    shown = await list_ips(api, account_id="acme")
    assert list(shown) == ["203.0.113.1", "203.0.113.4"] and shown["203.0.113.4"].state == "assigned"
    assert ("AssignIPs", "acme", ["203.0.113.4"]) in await audit_kinds(api.db)

    for address, expected in (("203.0.113.1", "not free"), ("192.0.2.1", "not free"), ("198.51.100.99", "not held")):
        code, message = await api.fails("AssignIPs", M.AssignIPsRequest(account_id="acme", addresses=[address]))
        assert expected in message, message
    await api.call("BlockIPs", M.BlockIPsRequest(addresses=["203.0.113.2"], reason="SBL"))
    code, message = await api.fails("AssignIPs", M.AssignIPsRequest(account_id="acme", addresses=["203.0.113.2"]))
    assert code == Code.FAILED_PRECONDITION and "is blocked (SBL); unblock it first" in message
    await seed_region(api.db, "eu-west", addresses=("192.0.2.201",), inventory=("203.0.113.200",))
    code, message = await api.fails("AssignIPs", M.AssignIPsRequest(account_id="acme", addresses=["203.0.113.200"]))
    assert code == Code.FAILED_PRECONDITION and "region 'eu-west'" in message

    # It warms up like any other: stage-0 pairs at the next run.
    assert (await rebalance(api.pool, D0 + timedelta(days=1))).failed == 0
    stages = await api.db.fetch("SELECT stage FROM warmup_state WHERE address = '203.0.113.4'")
    assert stages and {r["stage"] for r in stages} == {0}


# -- DeleteAccount ---------------------------------------------------------------------------------


async def test_delete_account_quarantines_its_ips_and_is_not_recreated(
    api: Api, router: Callable[[], asyncio.Future[InProcessServer]]
) -> None:
    await transition(api)
    deleted = await api.call("DeleteAccount", M.DeleteAccountRequest(account_id="acme"))
    assert (deleted.account_id, deleted.quarantined_ips) == ("acme", 1)
    shown = (await list_ips(api))["203.0.113.1"]
    assert (shown.state, shown.account_id, shown.quarantine_until) == ("quarantined", "", "2026-04-01")
    assert (await api.fails("GetAccount", M.GetAccountRequest(account_id="acme")))[0] == Code.NOT_FOUND
    assert list((await api.call("ListAccounts", M.ListAccountsRequest())).accounts) == []
    version, route = await account_entry(api.db)
    assert (route.management_type, route.pool_id, dict(route.providers)) == ("general", None, {})
    assert ("DeleteAccount", "acme", ["203.0.113.1"]) in await audit_kinds(api.db)

    # Its picks go to the general pool; the flush and the rebalancer do not bring it back.
    server = await router()
    await until(lambda: server.runtime.table.version >= version)
    assert await picks(server, "acme", 50) <= set(GENERAL)
    assert (await rebalance(api.pool, D0 + timedelta(days=1))).failed == 0
    row = await api.db.fetchrow("SELECT deleted_at, management_type FROM accounts WHERE account_id = 'acme'")
    assert row["deleted_at"] is not None and row["management_type"] == "general"
    assert list(await list_ips(api, state="assigned")) == []

    assert (await api.call("DeleteAccount", M.DeleteAccountRequest(account_id="acme"))).quarantined_ips == 0
    assert (await api.fails("DeleteAccount", M.DeleteAccountRequest(account_id="nobody")))[0] == Code.NOT_FOUND
    assert (await api.fails("DeleteAccount", M.DeleteAccountRequest(account_id="acme"), "view_acme"))[0] == (
        Code.PERMISSION_DENIED
    )
    # CreateAccount brings it back, General.
    account = await api.call("CreateAccount", M.CreateAccountRequest(account_id="acme", region="us-east"))
    assert account.management_type == types_pb2.MANAGEMENT_TYPE_GENERAL


async def test_a_deleted_account_with_history_does_not_shift_the_rebalancers_chunks(api: Api) -> None:
    # acme (deleted) has history and sorts before b, c, d: a chunk of two that counted it as
    # created would read d too, without d's history, and send d back to General.
    for account in ("b", "c", "d"):
        await api.call("CreateAccount", M.CreateAccountRequest(account_id=account, region="us-east"))
        await with_history(api.db, account)
    await with_history(api.db, "acme")
    assert (await rebalance(api.pool, D0)).failed == 0
    await api.call("DeleteAccount", M.DeleteAccountRequest(account_id="acme"))

    report = await rebalance(api.pool, D0 + timedelta(days=1), chunk_accounts=2)
    assert report.failed == 0 and report.accounts == 3
    types = await api.db.fetch("SELECT account_id, management_type FROM accounts ORDER BY account_id")
    assert [(r["account_id"], r["management_type"]) for r in types] == [
        ("acme", "general"),
        ("b", "transition"),
        ("c", "transition"),
        ("d", "transition"),
    ]
    assert list(await list_ips(api, state="draining")) == []
