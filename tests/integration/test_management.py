"""The Management service over a real socket, on a real PostgreSQL, with real API keys."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import pytest

from sendingip.v1 import management_pb2, types_pb2
from store import queries
from store.account_figures import AccountFigures, IPFigures
from store.database import create_pool
from store.policy_columns import policy_from_columns
from tests.support.management import Api, management_api
from workers.rebalance.run import rebalance

pytestmark = pytest.mark.integration

TODAY = date(2026, 3, 10)
Code = grpc.StatusCode


@pytest.fixture
async def api(db_url: str, db: asyncpg.Connection) -> AsyncIterator[Api]:
    async with management_api(db_url, db, clock=lambda: datetime(2026, 3, 10, 12, tzinfo=UTC)) as api:
        yield api


async def _region(api: Api, region: str = "us-east", general: tuple[str, ...] = ("192.0.2.1", "192.0.2.2")) -> None:
    await api.call(
        "AddIPs",
        management_pb2.AddIPsRequest(region=region, addresses=list(general), purpose=types_pb2.IP_PURPOSE_GENERAL_POOL),
    )


async def _account(api: Api, account_id: str, region: str = "us-east") -> types_pb2.Account:
    account: types_pb2.Account = await api.call(
        "CreateAccount", management_pb2.CreateAccountRequest(account_id=account_id, region=region)
    )
    return account


# -- access control --------------------------------------------------------------------


async def test_every_rpc_refuses_a_call_without_a_valid_key(api: Api) -> None:
    requests = {
        "ListSendingIPs": management_pb2.ListSendingIPsRequest(account_id="acme"),
        "GetAccount": management_pb2.GetAccountRequest(account_id="acme"),
        "ListAccounts": management_pb2.ListAccountsRequest(),
        "CreateAccount": management_pb2.CreateAccountRequest(account_id="acme", region="us-east"),
        "AddIPs": management_pb2.AddIPsRequest(region="us-east", addresses=["192.0.2.9"]),
        "ImportHistory": management_pb2.ImportHistoryRequest(),
        "GetPolicy": management_pb2.GetPolicyRequest(),
        "UpdatePolicy": management_pb2.UpdatePolicyRequest(),
        "PauseWarmup": management_pb2.PauseWarmupRequest(account_id="acme"),
        "ResumeWarmup": management_pb2.ResumeWarmupRequest(account_id="acme"),
    }
    wrong = "sip_aaaaaaaaaaaa_" + "b" * 43
    for method, request in requests.items():
        for key in (None, "garbage", wrong):
            code, _ = await api.fails(method, request, key)
            assert code == Code.UNAUTHENTICATED, (method, key)


async def test_view_keys_read_and_admin_keys_write(api: Api) -> None:
    await _region(api)
    code, message = await api.fails(
        "CreateAccount", management_pb2.CreateAccountRequest(account_id="acme", region="us-east"), "view"
    )
    assert code == Code.PERMISSION_DENIED and "'admin' permission" in message
    code, _ = await api.fails("PauseWarmup", management_pb2.PauseWarmupRequest(account_id="acme"), "view")
    assert code == Code.PERMISSION_DENIED
    code, _ = await api.fails("UpdatePolicy", management_pb2.UpdatePolicyRequest(), "view")
    assert code == Code.PERMISSION_DENIED
    code, _ = await api.fails("GetAccount", management_pb2.GetAccountRequest(account_id="acme"), "route")
    assert code == Code.PERMISSION_DENIED

    await _account(api, "acme")
    assert (
        await api.call("GetAccount", management_pb2.GetAccountRequest(account_id="acme"), "view")
    ).region == "us-east"
    # admin implies view
    assert (
        await api.call("GetAccount", management_pb2.GetAccountRequest(account_id="acme"), "admin")
    ).account_id == "acme"


async def test_a_key_limited_to_accounts_sees_only_those(api: Api) -> None:
    await _region(api)
    for account in ("acme", "beta", "gamma"):
        await _account(api, account)
    assert (
        await api.call("GetAccount", management_pb2.GetAccountRequest(account_id="acme"), "view_acme")
    ).account_id == "acme"
    code, message = await api.fails("GetAccount", management_pb2.GetAccountRequest(account_id="beta"), "view_acme")
    assert code == Code.PERMISSION_DENIED and "'beta'" in message
    code, _ = await api.fails("ListSendingIPs", management_pb2.ListSendingIPsRequest(account_id="beta"), "view_acme")
    assert code == Code.PERMISSION_DENIED
    listed = await api.call("ListAccounts", management_pb2.ListAccountsRequest(), "view_acme")
    assert [a.account_id for a in listed.accounts] == ["acme"]

    # A limited admin may act on its accounts but not on what concerns every account.
    assert (
        await api.call("PauseWarmup", management_pb2.PauseWarmupRequest(account_id="acme"), "admin_acme")
    ).warmup_paused
    code, _ = await api.fails("PauseWarmup", management_pb2.PauseWarmupRequest(account_id="beta"), "admin_acme")
    assert code == Code.PERMISSION_DENIED
    code, message = await api.fails(
        "AddIPs", management_pb2.AddIPsRequest(region="us-east", addresses=["192.0.2.7"]), "admin_acme"
    )
    assert code == Code.PERMISSION_DENIED and "every account" in message
    code, _ = await api.fails(
        "ImportHistory",
        management_pb2.ImportHistoryRequest(
            volumes=[types_pb2.DailyVolume(account_id="beta", day="2026-03-01", mailbox_provider="google", count=1)]
        ),
        "admin_acme",
    )
    assert code == Code.PERMISSION_DENIED


# -- accounts ----------------------------------------------------------------------------


async def test_get_account_of_an_unknown_account_is_not_found(api: Api) -> None:
    code, message = await api.fails("GetAccount", management_pb2.GetAccountRequest(account_id="nobody"), "view")
    assert code == Code.NOT_FOUND and "nobody" in message
    code, _ = await api.fails("ListSendingIPs", management_pb2.ListSendingIPsRequest(account_id="nobody"), "view")
    assert code == Code.NOT_FOUND
    code, message = await api.fails("GetAccount", management_pb2.GetAccountRequest(account_id="bad id!"), "view")
    assert code == Code.INVALID_ARGUMENT and "account_id" in message
    code, _ = await api.fails("GetAccount", management_pb2.GetAccountRequest(account_id=""), "view")
    assert code == Code.INVALID_ARGUMENT


async def test_create_account_is_idempotent_and_needs_an_existing_region(api: Api) -> None:
    code, message = await api.fails(
        "CreateAccount", management_pb2.CreateAccountRequest(account_id="acme", region="eu-west")
    )
    assert code == Code.FAILED_PRECONDITION and "eu-west" in message
    await _region(api)
    await _region(api, "eu-west", ("192.0.2.50",))
    first = await _account(api, "acme")
    assert first.management_type == types_pb2.MANAGEMENT_TYPE_GENERAL and first.region == "us-east"
    assert await _account(api, "acme") == first
    code, message = await api.fails(
        "CreateAccount", management_pb2.CreateAccountRequest(account_id="acme", region="eu-west")
    )
    assert code == Code.ALREADY_EXISTS and "us-east" in message
    code, _ = await api.fails("CreateAccount", management_pb2.CreateAccountRequest(account_id="x", region="Bad Region"))
    assert code == Code.INVALID_ARGUMENT


async def test_list_accounts_pages_through_every_account_once_in_order(api: Api) -> None:
    await _region(api)
    await _region(api, "eu-west", ("192.0.2.50",))
    ids = [f"acct-{i:03d}" for i in range(57)]
    for i, account in enumerate(ids):
        await _account(api, account, "eu-west" if i % 3 == 0 else "us-east")
    await api.db.execute(
        "UPDATE accounts SET management_type = 'transition', transition_started_on = '2026-03-01' WHERE account_id = ANY($1)",
        ids[::5],
    )

    async def collect(**filters: Any) -> list[str]:
        seen: list[str] = []
        token = ""
        pages = 0
        while True:
            page = await api.call(
                "ListAccounts", management_pb2.ListAccountsRequest(page_size=10, page_token=token, **filters), "view"
            )
            assert len(page.accounts) <= 10
            seen.extend(a.account_id for a in page.accounts)
            pages += 1
            token = page.next_page_token
            if not token:
                return seen

    assert await collect() == ids
    assert await collect(region="eu-west") == ids[::3]
    assert await collect(management_type=types_pb2.MANAGEMENT_TYPE_TRANSITION) == ids[::5]
    assert await collect(region="eu-west", management_type=types_pb2.MANAGEMENT_TYPE_TRANSITION) == ids[::15]

    default = await api.call("ListAccounts", management_pb2.ListAccountsRequest(), "view")
    assert len(default.accounts) == 57 and default.next_page_token == ""

    # An account created between two pages is not missed and nothing repeats.
    first = await api.call("ListAccounts", management_pb2.ListAccountsRequest(page_size=30), "view")
    await _account(api, "acct-999")
    rest = await api.call(
        "ListAccounts", management_pb2.ListAccountsRequest(page_size=1000, page_token=first.next_page_token), "view"
    )
    assert [a.account_id for a in (*first.accounts, *rest.accounts)] == [*ids, "acct-999"]


async def test_bad_page_tokens_and_sizes_are_invalid_argument(api: Api) -> None:
    await _region(api)
    for i in range(3):
        await _account(api, f"a{i}")
    for token in ("garbage", "eyJ2IjoxfQ", "!!!"):
        code, message = await api.fails("ListAccounts", management_pb2.ListAccountsRequest(page_token=token), "view")
        assert code == Code.INVALID_ARGUMENT and "page_token" in message
    page = await api.call("ListAccounts", management_pb2.ListAccountsRequest(page_size=1), "view")
    code, message = await api.fails(
        "ListAccounts",
        management_pb2.ListAccountsRequest(page_size=1, page_token=page.next_page_token, region="eu-west"),
        "view",
    )
    assert code == Code.INVALID_ARGUMENT and "filters" in message
    code, _ = await api.fails("ListAccounts", management_pb2.ListAccountsRequest(page_size=-1), "view")
    assert code == Code.INVALID_ARGUMENT


# -- IPs ----------------------------------------------------------------------------------


async def test_add_ips_is_idempotent_validates_and_publishes_the_general_pool(api: Api) -> None:
    general = types_pb2.IP_PURPOSE_GENERAL_POOL
    inventory = types_pb2.IP_PURPOSE_INVENTORY
    added = await api.call(
        "AddIPs",
        management_pb2.AddIPsRequest(region="us-east", addresses=["192.0.2.1", "2001:db8::1"], purpose=general),
    )
    assert (added.added, added.already_present) == (2, 0)
    again = await api.call(
        "AddIPs",
        management_pb2.AddIPsRequest(
            region="us-east", addresses=["192.0.2.1", "2001:DB8:0::1", "192.0.2.3"], purpose=general
        ),
    )
    assert (again.added, again.already_present) == (1, 2)
    entry = json.loads(
        await api.db.fetchval("SELECT entry FROM routing_entries WHERE kind = 'region' AND key = 'us-east'")
    )
    assert sorted(entry["addresses"]) == ["192.0.2.1", "192.0.2.3", "2001:db8::1"]

    code, message = await api.fails(
        "AddIPs",
        management_pb2.AddIPsRequest(region="us-east", addresses=["192.0.2.9", "300.1.1.1"], purpose=inventory),
    )
    assert code == Code.INVALID_ARGUMENT and "addresses[1]" in message and "300.1.1.1" in message
    code, message = await api.fails("AddIPs", management_pb2.AddIPsRequest(region="us-east", addresses=["192.0.2.9"]))
    assert code == Code.INVALID_ARGUMENT and "purpose" in message
    code, message = await api.fails(
        "AddIPs", management_pb2.AddIPsRequest(region="us-east", addresses=["192.0.2.1"], purpose=inventory)
    )
    assert code == Code.ALREADY_EXISTS and "192.0.2.1" in message and "general pool" in message
    code, message = await api.fails(
        "AddIPs", management_pb2.AddIPsRequest(region="eu-west", addresses=["192.0.2.77", "192.0.2.3"], purpose=general)
    )
    assert code == Code.ALREADY_EXISTS and "us-east" in message
    # All or nothing: neither the region nor 192.0.2.77 was created.
    assert await api.db.fetchval("SELECT count(*) FROM ip_addresses WHERE address = '192.0.2.77'") == 0
    assert await api.db.fetchval("SELECT count(*) FROM regions WHERE region = 'eu-west'") == 0

    inv = await api.call(
        "AddIPs",
        management_pb2.AddIPsRequest(region="us-east", addresses=["198.51.100.1", "198.51.100.2"], purpose=inventory),
    )
    assert inv.added == 2
    # Re-adding inventory the rebalancer has since assigned is still "already present".
    await api.db.execute("INSERT INTO accounts (account_id, region) VALUES ('acme', 'us-east')")
    await api.db.execute(
        "INSERT INTO pools (pool_id, region, pool_type, account_id) VALUES ('dedicated:acme', 'us-east', 'dedicated', 'acme')"
    )
    await api.db.execute(
        "UPDATE ip_addresses SET state = 'dedicated', pool_id = 'dedicated:acme', assigned_on = '2026-03-01' WHERE address = '198.51.100.1'"
    )
    inv = await api.call(
        "AddIPs",
        management_pb2.AddIPsRequest(region="us-east", addresses=["198.51.100.1", "198.51.100.2"], purpose=inventory),
    )
    assert (inv.added, inv.already_present) == (0, 2)


async def test_add_ips_stores_a_mapped_address_as_ipv4_and_refuses_a_zone_id(api: Api) -> None:
    """SPEC §3: one IP, one text (the routers, the history and the MTA configuration agree)."""
    general = types_pb2.IP_PURPOSE_GENERAL_POOL
    for zoned in ("fe80::1%eth0", "fe80::1%\x00"):
        code, message = await api.fails(
            "AddIPs", management_pb2.AddIPsRequest(region="us-east", addresses=["192.0.2.1", zoned], purpose=general)
        )
        assert code == Code.INVALID_ARGUMENT and message.startswith("addresses[1]: ") and "zone id" in message
    added = await api.call(
        "AddIPs",
        management_pb2.AddIPsRequest(region="us-east", addresses=["::ffff:192.0.2.1", "192.0.2.1"], purpose=general),
    )
    assert (added.added, added.already_present) == (1, 0)
    assert await api.db.fetchval("SELECT array_agg(host(address)) FROM ip_addresses") == ["192.0.2.1"]


async def _dedicated_setup(api: Api) -> None:
    """An account in Transition as the rebalancer leaves it: pool, IPs, warm-up, figures."""
    await _region(api)
    await _account(api, "acme")
    await api.call(
        "AddIPs",
        management_pb2.AddIPsRequest(
            region="us-east",
            addresses=["198.51.100.1", "198.51.100.2", "198.51.100.3"],
            purpose=types_pb2.IP_PURPOSE_INVENTORY,
        ),
    )
    db = api.db
    await db.execute(
        "INSERT INTO pools (pool_id, region, pool_type, account_id) VALUES ('dedicated:acme', 'us-east', 'dedicated', 'acme')"
    )
    await db.execute(
        "UPDATE ip_addresses SET state = 'dedicated', pool_id = 'dedicated:acme', assigned_on = '2026-03-01' "
        "WHERE address IN ('198.51.100.1', '198.51.100.2')"
    )
    await db.execute(
        "UPDATE ip_addresses SET state = 'draining', pool_id = 'dedicated:acme', assigned_on = '2026-02-01', "
        "drain_started_on = '2026-03-09' WHERE address = '198.51.100.3'"
    )
    # .1 is warm for both providers; .2 is still warming for microsoft.
    await db.executemany(
        "INSERT INTO warmup_state (address, mailbox_provider, account_id, stage) VALUES ($1, $2, 'acme', $3)",
        [
            ("198.51.100.1", "google", 30),
            ("198.51.100.1", "microsoft", 30),
            ("198.51.100.2", "google", 30),
            ("198.51.100.2", "microsoft", 4),
        ],
    )
    figures = AccountFigures(
        day="2026-03-10",
        volume_30d=3_000_000,
        peak_daily_volume_30d=150_000,
        active_days_30d=30,
        required_ips=2,
        dedicated_share_percent=60.0,
        transition_progress_percent=40.0,
        ips=(
            IPFigures("198.51.100.1", warmup_percent=100.0, traffic_share_percent=40.0, daily_limit=0),
            IPFigures("198.51.100.2", warmup_percent=56.0, traffic_share_percent=20.0, daily_limit=2_505_000),
        ),
    )
    await db.execute(
        "UPDATE accounts SET management_type = 'transition', transition_started_on = '2026-03-01', "
        "reason = 'volume over the threshold', figures = $1::jsonb WHERE account_id = 'acme'",
        figures.to_json(),
    )
    await db.executemany(
        "INSERT INTO daily_history (day, account_id, ip, mailbox_provider, counted) VALUES ($1, $2, $3, $4, $5)",
        [
            (TODAY, "acme", "198.51.100.2", "google", 700),
            (TODAY, "acme", "198.51.100.2", "microsoft", 300),
            (TODAY, "acme", "192.0.2.1", "google", 5),
            (TODAY, "other", "198.51.100.2", "google", 999),  # another account: not counted
            (date(2026, 3, 9), "acme", "198.51.100.2", "google", 999),  # yesterday: not counted
        ],
    )


async def test_list_sending_ips_is_the_seeds_table(api: Api) -> None:
    await _dedicated_setup(api)
    table = await api.call("ListSendingIPs", management_pb2.ListSendingIPsRequest(account_id="acme"), "view")
    account = table.account
    assert account.management_type == types_pb2.MANAGEMENT_TYPE_TRANSITION
    assert (account.transition_progress_percent, account.dedicated_share_percent) == (40.0, 60.0)
    assert (account.volume_30d, account.required_ips, account.dedicated_ip_count) == (3_000_000, 2, 2)
    assert account.reason == "volume over the threshold" and account.transition_started_on == "2026-03-01"

    rows = {ip.address: ip for ip in table.ips}
    assert [ip.address for ip in table.ips] == [
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
        "192.0.2.1",
        "192.0.2.2",
    ]
    warm, warming, draining = rows["198.51.100.1"], rows["198.51.100.2"], rows["198.51.100.3"]
    assert (warm.status, warm.pool_type, warm.pool_id) == (
        types_pb2.IP_STATUS_ACTIVE,
        types_pb2.POOL_TYPE_DEDICATED,
        "dedicated:acme",
    )
    assert (warming.status, warming.warmup_percent, warming.traffic_share_percent) == (
        types_pb2.IP_STATUS_IN_PROGRESS,
        56.0,
        20.0,
    )
    assert (warming.daily_limit, warming.sent_today, warming.assigned_on) == (2_505_000, 1000, "2026-03-01")
    assert (draining.status, draining.traffic_share_percent) == (types_pb2.IP_STATUS_DRAINING, 0.0)
    shared = rows["192.0.2.1"]
    # Added by AddIPs and not yet ramped in (rule 12): In Progress; all equally new, so equal shares.
    assert (shared.pool_type, shared.status, shared.assigned_on, shared.sent_today) == (
        types_pb2.POOL_TYPE_GENERAL,
        types_pb2.IP_STATUS_IN_PROGRESS,
        "",
        5,
    )
    assert shared.traffic_share_percent == pytest.approx(20.0)  # (100 - 60) / 2

    # Dedicated: the general pool is no longer listed.
    await api.db.execute(
        "UPDATE accounts SET management_type = 'dedicated', dedicated_on = '2026-03-10' WHERE account_id = 'acme'"
    )
    table = await api.call("ListSendingIPs", management_pb2.ListSendingIPsRequest(account_id="acme"), "view")
    assert {ip.pool_type for ip in table.ips} == {types_pb2.POOL_TYPE_DEDICATED}


async def test_before_the_first_rebalance_a_pair_is_warming_until_the_end_of_its_providers_schedule(
    api: Api,
) -> None:
    await _dedicated_setup(api)  # figures without a status: the stages decide
    request = management_pb2.ListSendingIPsRequest(account_id="acme")
    rows = {ip.address: ip.status for ip in (await api.call("ListSendingIPs", request, "view")).ips}
    assert rows["198.51.100.1"] == types_pb2.IP_STATUS_ACTIVE  # stage 30 of the default 30
    # A slower google schedule: .1's google pair at stage 30 is warming again.
    await api.db.execute("UPDATE policy SET provider_schedules = $1::jsonb", json.dumps({"google": [50] * 31}))
    rows = {ip.address: ip.status for ip in (await api.call("ListSendingIPs", request, "view")).ips}
    assert rows["198.51.100.1"] == types_pb2.IP_STATUS_IN_PROGRESS
    await api.db.execute("UPDATE policy SET provider_schedules = $1::jsonb", json.dumps({"google": [50] * 30}))
    rows = {ip.address: ip.status for ip in (await api.call("ListSendingIPs", request, "view")).ips}
    assert rows["198.51.100.1"] == types_pb2.IP_STATUS_ACTIVE


async def test_a_new_account_shows_zeros_and_the_general_pool(api: Api) -> None:
    await _region(api)
    await _account(api, "fresh")
    table = await api.call("ListSendingIPs", management_pb2.ListSendingIPsRequest(account_id="fresh"), "view")
    assert table.account.volume_30d == 0 and table.account.dedicated_ip_count == 0
    assert [(ip.address, ip.traffic_share_percent) for ip in table.ips] == [("192.0.2.1", 50.0), ("192.0.2.2", 50.0)]


# -- history -----------------------------------------------------------------------------


def _volumes(n_accounts: int, days: int) -> list[types_pb2.DailyVolume]:
    return [
        types_pb2.DailyVolume(
            account_id=f"acct{a}", day=f"2026-02-{d:02d}", mailbox_provider=p, ip=ip, count=a * 1000 + d
        )
        for a in range(n_accounts)
        for d in range(1, days + 1)
        for p, ip in (("google", ""), ("microsoft", "192.0.2.1"))
    ]


async def test_import_history_sets_not_adds_so_importing_twice_changes_nothing(api: Api) -> None:
    await _region(api)  # 192.0.2.1 is in the accounts' general pool
    await api.db.execute("INSERT INTO accounts SELECT 'acct' || a, 'us-east' FROM generate_series(0, 99) AS a")
    volumes = _volumes(100, 25)  # 5,000 rows in one call
    first = await api.call("ImportHistory", management_pb2.ImportHistoryRequest(volumes=volumes))
    assert first.rows == 5000
    snapshot = await api.db.fetch("SELECT * FROM daily_history ORDER BY 1, 2, 3, 4")
    second = await api.call("ImportHistory", management_pb2.ImportHistoryRequest(volumes=volumes))
    assert second.rows == 5000
    assert await api.db.fetch("SELECT * FROM daily_history ORDER BY 1, 2, 3, 4") == snapshot
    assert await api.db.fetchval("SELECT sum(imported) FROM daily_history") == sum(v.count for v in volumes)

    # A corrected count replaces the old one; the routers' `counted` is left alone.
    await api.db.execute(
        "UPDATE daily_history SET counted = 7 WHERE account_id = 'acct1' AND day = '2026-02-01' AND ip = ''"
    )
    fix = types_pb2.DailyVolume(account_id="acct1", day="2026-02-01", mailbox_provider="Google", count=5)
    await api.call("ImportHistory", management_pb2.ImportHistoryRequest(volumes=[fix]))
    row = await api.db.fetchrow(
        "SELECT imported, counted FROM daily_history WHERE account_id = 'acct1' AND day = '2026-02-01' AND ip = ''"
    )
    assert (row["imported"], row["counted"]) == (5, 7)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"day": "2026-2-1"}, "volumes[1].day"),
        ({"day": "2026-02-30"}, "volumes[1].day"),
        ({"count": -1}, "volumes[1].count"),
        ({"mailbox_provider": "g mail"}, "volumes[1].mailbox_provider"),
        ({"mailbox_provider": "gmx"}, "volumes[1].mailbox_provider"),
        ({"ip": "192.0.2.256"}, "volumes[1].ip"),
        ({"ip": "fe80::1%eth0"}, "volumes[1].ip: 'fe80::1%eth0' carries an IPv6 zone id"),
        ({"ip": "fe80::1%\x00"}, "volumes[1].ip"),
        ({"ip": "224.0.0.1"}, "volumes[1].ip"),
        ({"account_id": ""}, "volumes[1].account_id"),
        # SPEC §3 "Bounds": at most 10^9 per row (2^62 was accepted, and two such rows
        # overflowed every status call).
        ({"count": 10**9 + 1}, "volumes[1].count: must be at most 1,000,000,000"),
        ({"count": 2**62}, "volumes[1].count: must be at most 1,000,000,000"),
        # History is about the past: up to tomorrow (UTC), TODAY being 2026-03-10.
        ({"day": "2026-03-12"}, "volumes[1].day 2026-03-12 is in the future"),
        # ... and back to the window (30 days) plus the 7 the rebalancer keeps: 1970 and
        # 2099 were accepted, and the message says which days are.
        ({"day": "2099-01-01"}, "volumes[1].day 2099-01-01 is in the future: days from 2026-02-01 to 2026-03-11"),
        ({"day": "1970-01-01"}, "volumes[1].day 1970-01-01 is older than the history kept: days from 2026-02-01"),
        ({"day": "2026-01-31"}, "volumes[1].day 2026-01-31 is older than the history kept"),
    ],
)
async def test_import_history_rejects_a_bad_row_naming_it_and_writes_nothing(
    api: Api, row: dict[str, Any], field: str
) -> None:
    good: dict[str, Any] = {
        "account_id": "acme",
        "day": "2026-02-01",
        "mailbox_provider": "google",
        "ip": "",
        "count": 1,
    }
    volumes = [types_pb2.DailyVolume(**good), types_pb2.DailyVolume(**{**good, **row})]
    code, message = await api.fails("ImportHistory", management_pb2.ImportHistoryRequest(volumes=volumes))
    assert code == Code.INVALID_ARGUMENT and message.startswith(field), message
    assert await api.db.fetchval("SELECT count(*) FROM daily_history") == 0


PROVIDERS = ("google", "microsoft", "yahoo", "apple", "other")
INT64_MAX = 2**63 - 1
#: Where stored counts saturate (store/queries/router.sql).
SATURATED = 2**62 - 1


async def _assign(api: Api, account: str, *addresses: str) -> None:
    """Put inventory IPs in the account's dedicated pool, as the rebalancer does."""
    await api.db.execute(
        "INSERT INTO pools (pool_id, region, pool_type, account_id) "
        "SELECT 'dedicated:' || $1, region, 'dedicated', $1 FROM accounts WHERE account_id = $1 ON CONFLICT DO NOTHING",
        account,
    )
    await api.db.execute(
        "UPDATE ip_addresses SET state = 'dedicated', pool_id = 'dedicated:' || $1, assigned_on = '2026-03-01' "
        "WHERE address = ANY ($2::text[]::inet[])",
        account,
        list(addresses),
    )


async def _release(api: Api, *addresses: str) -> None:
    """Drained and released to quarantine, as the rebalancer does."""
    await api.db.execute(
        "UPDATE ip_addresses SET state = 'quarantine', pool_id = NULL, assigned_on = NULL, drain_started_on = NULL, "
        "quarantine_until = '2026-04-01' WHERE address = ANY ($1::text[]::inet[])",
        list(addresses),
    )
    await api.db.execute(
        "UPDATE ip_addresses SET state = 'inventory', quarantine_until = NULL WHERE address = ANY ($1::text[]::inet[])",
        list(addresses),
    )


def _history(account: str, days: range, ips: tuple[str, ...], count: int = 10**9) -> list[types_pb2.DailyVolume]:
    return [
        types_pb2.DailyVolume(
            account_id=account, day=str(TODAY - timedelta(days=d)), mailbox_provider=p, ip=ip, count=count
        )
        for d in days
        for p in PROVIDERS
        for ip in ips
    ]


async def _flush(db: asyncpg.Connection, account: str, days: range, ips: tuple[str, ...], n: int) -> None:
    """One router flush (the router's own statement) of ``n`` picks per key."""
    keys = [(TODAY - timedelta(days=d), account, ip, p) for d in days for ip in ips for p in PROVIDERS]
    await db.fetchval(
        queries.load()["router_flush_history"],
        uuid.uuid4(),
        "test-router",
        *([k[i] for k in keys] for i in range(4)),
        [n] * len(keys),
        [],
        [],
    )


async def test_maximal_history_and_saturated_counts_leave_every_status_call_answering(api: Api, db_url: str) -> None:
    """Issue 13, item 5: two imported rows of 2^62 overflowed volume_30d, and every status
    call (GetAccount, ListSendingIPs, ListAccounts, for everyone) answered INTERNAL."""
    await _region(api)
    for account in ("acme", "beta"):
        await _account(api, account)
    inventory = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"]
    await api.call(
        "AddIPs",
        management_pb2.AddIPsRequest(region="us-east", addresses=inventory, purpose=types_pb2.IP_PURPOSE_INVENTORY),
    )
    await _assign(api, "acme", "198.51.100.1")
    # The most ImportHistory takes: 10^9 per row, 31 days (today too), every provider and IP.
    volumes = _history("acme", range(31), ("", "192.0.2.1", "192.0.2.2", "198.51.100.1"))
    volumes += _history("beta", range(31), ("", "192.0.2.1", "192.0.2.2"))
    assert (await api.call("ImportHistory", management_pb2.ImportHistoryRequest(volumes=volumes))).rows == 1085
    # The routers' counts for acme past any real volume: repeated flushes saturate instead of
    # overflowing (an overflow failed that flush, and so every later one, for every account).
    for _ in range(3):
        await _flush(api.db, "acme", range(31), ("192.0.2.1", "198.51.100.1"), SATURATED)
    assert await api.db.fetchval("SELECT max(counted) FROM daily_history") == SATURATED

    pool = await create_pool(db_url, size=2)
    try:
        report = await rebalance(pool, TODAY)
    finally:
        await pool.close()
    assert report.failed == 0

    for key in ("admin", "view"):
        acme = await api.call("GetAccount", management_pb2.GetAccountRequest(account_id="acme"), key)
        assert acme.volume_30d == INT64_MAX and acme.peak_daily_volume_30d == INT64_MAX
        beta = await api.call("GetAccount", management_pb2.GetAccountRequest(account_id="beta"), key)
        assert beta.volume_30d == 30 * len(PROVIDERS) * 3 * 10**9
        listed = await api.call("ListAccounts", management_pb2.ListAccountsRequest(), key)
        assert [a.account_id for a in listed.accounts] == ["acme", "beta"]
        table = await api.call("ListSendingIPs", management_pb2.ListSendingIPsRequest(account_id="acme"), key)
        sent = {ip.address: ip.sent_today for ip in table.ips}
        assert sent["198.51.100.1"] == INT64_MAX  # five providers at the saturated count
        assert sent["192.0.2.1"] == INT64_MAX and sent["192.0.2.2"] == 0
        table = await api.call("ListSendingIPs", management_pb2.ListSendingIPsRequest(account_id="beta"), key)
        assert {ip.address: ip.sent_today for ip in table.ips} == {"192.0.2.1": 0, "192.0.2.2": 0}


async def test_import_history_names_only_ips_of_the_accounts_own_pools(api: Api) -> None:
    """Issue 13, item 6: a key scoped to one account imported history naming another
    tenant's IP, which the routers then counted against that tenant's warm-up for the day."""
    await _region(api)
    await _region(api, "eu-west", ("203.0.113.1",))
    for account, region in (("acme", "us-east"), ("beta", "us-east"), ("euro", "eu-west")):
        await _account(api, account, region)
    await api.call(
        "AddIPs",
        management_pb2.AddIPsRequest(
            region="us-east",
            addresses=["198.51.100.1", "198.51.100.2", "198.51.100.3"],
            purpose=types_pb2.IP_PURPOSE_INVENTORY,
        ),
    )
    await _assign(api, "acme", "198.51.100.1")
    await _assign(api, "beta", "198.51.100.2")

    def row(account: str, ip: str, day: date = date(2026, 3, 1)) -> types_pb2.DailyVolume:
        return types_pb2.DailyVolume(account_id=account, day=str(day), mailbox_provider="google", ip=ip, count=10)

    async def refused(rows: list[types_pb2.DailyVolume], key: str = "admin") -> str:
        code, message = await api.fails("ImportHistory", management_pb2.ImportHistoryRequest(volumes=rows), key)
        assert code == Code.INVALID_ARGUMENT, message
        return message

    # Another tenant's dedicated IP, another region's general pool, a free IP: refused,
    # for a key scoped to the account and for an unscoped one alike, and nothing written.
    own = row("acme", "198.51.100.1")
    for key in ("admin_acme", "admin"):
        message = await refused([own, row("acme", "198.51.100.2", TODAY)], key)
        assert message.startswith("volumes[1].ip 198.51.100.2 is not and never was in account 'acme'"), message
        message = await refused([own, own, row("acme", "203.0.113.1")], key)
        assert message.startswith("volumes[2].ip 203.0.113.1"), message
        message = await refused([row("acme", "198.51.100.3"), own], key)
        assert message.startswith("volumes[0].ip 198.51.100.3"), message
    # An account that does not exist has no IPs of its own (its history may leave ip empty).
    message = await refused([own, row("ghost", "192.0.2.1")])
    assert message.startswith("volumes[1].ip 192.0.2.1: account 'ghost' does not exist yet"), message
    assert await api.db.fetchval("SELECT count(*) FROM daily_history") == 0

    # Its own dedicated IP and its region's general pool, past days and today.
    ok = [own, row("acme", "192.0.2.1"), row("acme", "198.51.100.1", TODAY)]
    assert (await api.call("ImportHistory", management_pb2.ImportHistoryRequest(volumes=ok), "admin_acme")).rows == 3
    ghost = [row("ghost", "")]
    assert (await api.call("ImportHistory", management_pb2.ImportHistoryRequest(volumes=ghost))).rows == 1

    # 198.51.100.1 leaves acme and, out of quarantine, goes to beta. Its past with acme may
    # still be imported; today it is beta's, and only beta may count it.
    await _release(api, "198.51.100.1")
    await _assign(api, "beta", "198.51.100.1")
    assert (await api.call("ImportHistory", management_pb2.ImportHistoryRequest(volumes=[own]), "admin_acme")).rows == 1
    message = await refused([own, row("acme", "198.51.100.1", TODAY)], "admin_acme")
    assert message.startswith("volumes[1].ip 198.51.100.1 has left account 'acme'"), message
    message = await refused([row("acme", "198.51.100.1", TODAY + timedelta(days=1))])
    assert message.startswith("volumes[0].ip 198.51.100.1 has left"), message
    beta = [row("beta", "198.51.100.1", TODAY), row("beta", "198.51.100.1")]
    assert (await api.call("ImportHistory", management_pb2.ImportHistoryRequest(volumes=beta))).rows == 2
    assert await api.db.fetchval(
        "SELECT array_agg(account_id ORDER BY account_id) FROM daily_history WHERE ip = '198.51.100.1' AND day = $1",
        TODAY,
    ) == ["acme", "beta"]


# -- policy ------------------------------------------------------------------------------


async def test_update_policy_changes_only_the_fields_set_and_is_audited(api: Api) -> None:
    before = await api.call("GetPolicy", management_pb2.GetPolicyRequest(), "view")
    assert before.dedicated_threshold_30d == 250_000 and len(before.warmup_schedule) == 30
    after = await api.call(
        "UpdatePolicy",
        management_pb2.UpdatePolicyRequest(
            policy=types_pb2.Policy(dedicated_threshold_30d=300_000, hold_bounce_percent=6.0)
        ),
    )
    assert after.dedicated_threshold_30d == 300_000 and after.hold_bounce_percent == 6.0
    assert after.general_threshold_30d == before.general_threshold_30d
    assert list(after.warmup_schedule) == list(before.warmup_schedule)
    admin_id = api.keys["admin"].split("_")[1]
    assert after.updated_by == admin_id and after.updated_at > before.updated_at
    audit = await api.db.fetch("SELECT changed_by, old_policy, new_policy FROM policy_audit")
    assert len(audit) == 1 and audit[0]["changed_by"] == admin_id
    assert json.loads(audit[0]["old_policy"])["dedicated_threshold_30d"] == 250_000
    assert json.loads(audit[0]["new_policy"])["dedicated_threshold_30d"] == 300_000
    assert await api.call("GetPolicy", management_pb2.GetPolicyRequest(), "view") == after

    schedule = await api.call(
        "UpdatePolicy", management_pb2.UpdatePolicyRequest(policy=types_pb2.Policy(warmup_schedule=[100, 1000, 10000]))
    )
    assert list(schedule.warmup_schedule) == [100, 1000, 10000]


async def test_update_policy_carries_each_v2_setting_through_postgresql(api: Api) -> None:
    """SPEC §2 "Settings added in v2": each is stored, read back, and read by the rebalancer."""
    before = await api.call("GetPolicy", management_pb2.GetPolicyRequest(), "view")
    assert (before.advance_fraction, before.warmup_rules, before.hourly_burst) == (0.9, "v2", 2.0)
    assert (before.same_day_min_outcomes, before.throttle_pause_minutes) == (200, 60)
    assert list(before.provider_schedules) == []
    for update in (
        types_pb2.Policy(advance_fraction=0.75),
        types_pb2.Policy(warmup_rules="v1"),
        types_pb2.Policy(hourly_burst=0.0),  # pacing off: 0 is a value, not "unset"
        types_pb2.Policy(same_day_min_outcomes=500),
        types_pb2.Policy(throttle_pause_minutes=1440),
    ):
        after = await api.call("UpdatePolicy", management_pb2.UpdatePolicyRequest(policy=update))
        (field, value), *_ = update.ListFields()
        assert getattr(after, field.name) == value
    schedules = [
        types_pb2.ProviderSchedule(provider="microsoft", limits=[100, 300, 1_000]),
        types_pb2.ProviderSchedule(provider="yahoo", limits=[50]),
    ]
    after = await api.call(
        "UpdatePolicy", management_pb2.UpdatePolicyRequest(policy=types_pb2.Policy(provider_schedules=schedules))
    )
    assert list(after.provider_schedules) == schedules
    stored = await api.call("GetPolicy", management_pb2.GetPolicyRequest(), "view")
    assert stored == after and (stored.advance_fraction, stored.warmup_rules) == (0.75, "v1")
    assert (stored.hourly_burst, stored.same_day_min_outcomes, stored.throttle_pause_minutes) == (0.0, 500, 1440)
    # The rebalancer's reading of the same row.
    policy = policy_from_columns(await api.db.fetchrow(queries.load()["worker_policy"]))
    assert policy.provider_schedules == {"microsoft": (100, 300, 1_000), "yahoo": (50,)}
    assert policy.schedule_for("google") == tuple(stored.warmup_schedule) and policy.hourly_burst == 0.0
    # An entry with no limits removes that provider's schedule; the others stay.
    removed = await api.call(
        "UpdatePolicy",
        management_pb2.UpdatePolicyRequest(
            policy=types_pb2.Policy(provider_schedules=[types_pb2.ProviderSchedule(provider="yahoo")])
        ),
    )
    assert list(removed.provider_schedules) == schedules[:1]
    audit = await api.db.fetch("SELECT old_policy, new_policy FROM policy_audit ORDER BY id")
    assert len(audit) == 7
    assert json.loads(audit[-1]["old_policy"])["provider_schedules"] == {"microsoft": [100, 300, 1000], "yahoo": [50]}
    assert json.loads(audit[-1]["new_policy"])["provider_schedules"] == {"microsoft": [100, 300, 1000]}


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (types_pb2.Policy(advance_fraction=0.0), "policy.advance_fraction must be a fraction in (0, 1], got 0.0"),
        (types_pb2.Policy(advance_fraction=1.5), "policy.advance_fraction must be a fraction in (0, 1], got 1.5"),
        (types_pb2.Policy(warmup_rules="v3"), "policy.warmup_rules must be one of v1, v2, got 'v3'"),
        (types_pb2.Policy(hourly_burst=0.5), "policy.hourly_burst must be 0 (pacing off) or a number in [1, 24]"),
        (types_pb2.Policy(hourly_burst=25.0), "policy.hourly_burst must be 0 (pacing off) or a number in [1, 24]"),
        (types_pb2.Policy(same_day_min_outcomes=0), "policy.same_day_min_outcomes must be a whole number >= 1"),
        (types_pb2.Policy(throttle_pause_minutes=0), "policy.throttle_pause_minutes must be a whole number >= 1"),
        (types_pb2.Policy(throttle_pause_minutes=1441), "policy.throttle_pause_minutes must be a whole number <= 1440"),
        (
            types_pb2.Policy(provider_schedules=[types_pb2.ProviderSchedule(provider="gmail", limits=[1])]),
            "policy.provider_schedules names 'gmail', which is not one of policy.mailbox_providers",
        ),
        (
            types_pb2.Policy(provider_schedules=[types_pb2.ProviderSchedule(provider="microsoft", limits=[5, 1])]),
            "policy.provider_schedules[microsoft] must not decrease",
        ),
        (
            types_pb2.Policy(provider_schedules=[types_pb2.ProviderSchedule(provider="apple", limits=[3_000_000])]),
            "policy.provider_schedules[apple][0] (3000000) must be <= policy.ip_daily_capacity (2500000)",
        ),
    ],
)
async def test_update_policy_refuses_v2_settings_out_of_bounds(
    api: Api, policy: types_pb2.Policy, message: str
) -> None:
    code, got = await api.fails("UpdatePolicy", management_pb2.UpdatePolicyRequest(policy=policy))
    assert code == Code.INVALID_ARGUMENT and got.startswith(message), got
    assert await api.db.fetchval("SELECT count(*) FROM policy_audit") == 0


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        (types_pb2.Policy(general_threshold_30d=300_000), "general_threshold_30d"),
        (types_pb2.Policy(history_window_days=0), "history_window_days"),
        (types_pb2.Policy(min_active_days=40), "min_active_days"),
        (types_pb2.Policy(max_ips_per_account=0), "max_ips_per_account"),
        (types_pb2.Policy(warmup_schedule=[500, 200]), "warmup_schedule"),
        (types_pb2.Policy(warmup_schedule=[0, 200]), "warmup_schedule[0]"),
        (types_pb2.Policy(warmup_schedule=[200, 3_000_000]), "warmup_schedule[1]"),
        (types_pb2.Policy(hold_bounce_percent=101), "hold_bounce_percent"),
        (types_pb2.Policy(hold_bounce_percent=float("nan")), "hold_bounce_percent"),
        (types_pb2.Policy(hold_complaint_percent=1.0), "hold_complaint_percent"),
        (types_pb2.Policy(mailbox_providers=["google"]), "mailbox_providers"),
        (types_pb2.Policy(drain_days=0), "drain_days"),
    ],
)
async def test_update_policy_rejects_invalid_values_naming_the_field(
    api: Api, policy: types_pb2.Policy, field: str
) -> None:
    code, message = await api.fails("UpdatePolicy", management_pb2.UpdatePolicyRequest(policy=policy))
    assert code == Code.INVALID_ARGUMENT and f"policy.{field}" in message, message
    assert await api.db.fetchval("SELECT count(*) FROM policy_audit") == 0


# -- warm-up -----------------------------------------------------------------------------


async def test_pause_and_resume_flip_the_flag_and_keep_the_warmup_state(api: Api) -> None:
    await _dedicated_setup(api)
    stages = await api.db.fetch("SELECT * FROM warmup_state ORDER BY 1, 2")
    paused = await api.call("PauseWarmup", management_pb2.PauseWarmupRequest(account_id="acme"))
    assert paused.warmup_paused and paused.management_type == types_pb2.MANAGEMENT_TYPE_TRANSITION
    assert (await api.call("PauseWarmup", management_pb2.PauseWarmupRequest(account_id="acme"))).warmup_paused
    resumed = await api.call("ResumeWarmup", management_pb2.ResumeWarmupRequest(account_id="acme"))
    assert not resumed.warmup_paused and resumed.dedicated_ip_count == 2
    assert await api.db.fetch("SELECT * FROM warmup_state ORDER BY 1, 2") == stages
    code, _ = await api.fails("PauseWarmup", management_pb2.PauseWarmupRequest(account_id="nobody"))
    assert code == Code.NOT_FOUND


async def test_concurrent_calls_share_the_pool(api: Api) -> None:
    await _region(api)
    await asyncio.gather(*(_account(api, f"c{i}") for i in range(20)))
    listed = await api.call("ListAccounts", management_pb2.ListAccountsRequest(), "view")
    assert len(listed.accounts) == 20
