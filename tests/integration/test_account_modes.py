"""Rule 7 (v2) modes and per-account overrides end to end: set over gRPC with real API keys,
stored in a real PostgreSQL, audited, and honoured by the next rebalance."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import asyncpg
import grpc
import pytest

from sendingip.v1 import management_pb2, types_pb2
from tests.support.management import Api, management_api
from tests.support.routing import seed_region
from workers.rebalance.run import rebalance

pytestmark = pytest.mark.integration

D0 = date(2026, 3, 1)
PROVIDERS = ("google", "microsoft", "yahoo", "apple", "other")
INVENTORY = tuple(f"203.0.113.{i}" for i in range(1, 6))
Code = grpc.StatusCode


async def set_mode(api: Api, account_id: str, mode: str, key: str = "admin") -> types_pb2.Account:
    account: types_pb2.Account = await api.call(
        "SetAccountMode", management_pb2.SetAccountModeRequest(account_id=account_id, mode=mode), key
    )
    return account


async def overrides(api: Api, *entries: types_pb2.AccountOverride) -> types_pb2.Policy:
    policy: types_pb2.Policy = await api.call(
        "UpdatePolicy", management_pb2.UpdatePolicyRequest(policy=types_pb2.Policy(account_overrides=entries))
    )
    return policy


@pytest.fixture
async def api(db_url: str, db: asyncpg.Connection) -> AsyncIterator[Api]:
    async with management_api(db_url, db, clock=lambda: datetime(2026, 3, 1, 12, tzinfo=UTC)) as api:
        await seed_region(db, addresses=("198.51.100.1",), inventory=INVENTORY, publish=False)
        yield api


async def add_account(db: asyncpg.Connection, account: str, per_day: int, days: int = 30) -> None:
    """``account`` in us-east with ``days`` days of ``per_day`` messages before D0."""
    await db.execute("INSERT INTO accounts (account_id, region) VALUES ($1, 'us-east')", account)
    await db.executemany(
        "INSERT INTO daily_history (day, account_id, ip, mailbox_provider, imported) VALUES ($1, $2, '', $3, $4)",
        [
            (D0 - timedelta(days=d + 1), account, provider, per_day // len(PROVIDERS))
            for d in range(days)
            for provider in PROVIDERS
        ],
    )


async def state(db: asyncpg.Connection, account: str) -> asyncpg.Record:
    row = await db.fetchrow(
        """SELECT a.management_type, a.mode, a.reason,
                  (SELECT array_agg(host(i.address) ORDER BY i.address) FROM ip_addresses i
                   WHERE i.pool_id = 'dedicated:' || a.account_id AND i.state = 'dedicated') AS ips,
                  (SELECT array_agg(host(i.address) ORDER BY i.address) FROM ip_addresses i
                   WHERE i.pool_id = 'dedicated:' || a.account_id AND i.state = 'draining') AS draining,
                  (SELECT version FROM routing_entries r WHERE r.kind = 'account' AND r.key = a.account_id) AS version
           FROM accounts a WHERE a.account_id = $1""",
        account,
    )
    assert row is not None
    return row


# -- SetAccountMode -----------------------------------------------------------------------


async def test_set_account_mode_stores_shows_and_audits_each_change(api: Api) -> None:
    await add_account(api.db, "acme", 1_000)
    account = await api.call("GetAccount", management_pb2.GetAccountRequest(account_id="acme"), "view")
    assert account.mode == "auto"

    account = await set_mode(api, "acme", "frozen")
    assert account.account_id == "acme" and account.mode == "frozen"
    assert (await api.call("GetAccount", management_pb2.GetAccountRequest(account_id="acme"), "view")).mode == "frozen"
    listed = await api.call("ListAccounts", management_pb2.ListAccountsRequest(), "view")
    assert [(a.account_id, a.mode) for a in listed.accounts] == [("acme", "frozen")]
    await set_mode(api, "acme", "frozen")  # the same mode again: nothing changes, nothing recorded
    await set_mode(api, "acme", "auto", "admin_acme")

    events = await api.db.fetch(
        "SELECT actor, kind, account_id, before::text AS b, after::text AS a FROM audit_events ORDER BY id"
    )
    assert [(e["actor"], e["kind"], e["account_id"]) for e in events] == [
        (api.key_id("admin"), "SetAccountMode", "acme"),
        (api.key_id("admin_acme"), "SetAccountMode", "acme"),
    ]
    assert [(json.loads(e["b"]), json.loads(e["a"])) for e in events] == [
        ({"mode": "auto"}, {"mode": "frozen"}),
        ({"mode": "frozen"}, {"mode": "auto"}),
    ]


async def test_set_account_mode_refuses_bad_input_and_unknown_accounts(api: Api) -> None:
    await add_account(api.db, "acme", 1_000)
    await add_account(api.db, "other", 1_000)
    request = management_pb2.SetAccountModeRequest
    assert await api.fails("SetAccountMode", request(account_id="acme", mode="pinned")) == (
        Code.INVALID_ARGUMENT,
        "mode: must be one of auto, general, dedicated, frozen, got 'pinned'",
    )
    code, message = await api.fails("SetAccountMode", request(account_id="acme", mode=""))
    assert code == Code.INVALID_ARGUMENT and message.startswith("mode: must be one of")
    code, message = await api.fails("SetAccountMode", request(account_id="bad id", mode="auto"))
    assert code == Code.INVALID_ARGUMENT and message.startswith("account_id:")
    assert (await api.fails("SetAccountMode", request(account_id="nobody", mode="auto")))[0] == Code.NOT_FOUND
    assert (await api.fails("SetAccountMode", request(account_id="acme", mode="auto"), "view"))[0] == (
        Code.PERMISSION_DENIED
    )
    assert (await api.fails("SetAccountMode", request(account_id="other", mode="auto"), "admin_acme"))[0] == (
        Code.PERMISSION_DENIED
    )
    assert await api.db.fetchval("SELECT count(*) FROM audit_events") == 0
    assert {r["mode"] for r in await api.db.fetch("SELECT mode FROM accounts")} == {"auto"}


async def test_the_rebalancer_honours_each_mode(api: Api) -> None:
    await add_account(api.db, "pinned-general", 50_000)  # 1.5M: qualifies
    await add_account(api.db, "pinned-dedicated", 500, days=3)  # 1,500 over 3 days
    await add_account(api.db, "frozen", 50_000)
    await add_account(api.db, "auto", 50_000)
    await set_mode(api, "pinned-general", "general")
    await set_mode(api, "pinned-dedicated", "dedicated")
    await set_mode(api, "frozen", "frozen")

    report = await rebalance(api.pool, D0)

    assert report.failed == 0
    general = await state(api.db, "pinned-general")
    assert (general["management_type"], general["ips"]) == ("general", None)
    assert general["reason"].startswith("General: mode general set by an operator (never dedicated)")
    dedicated = await state(api.db, "pinned-dedicated")
    assert (dedicated["management_type"], len(dedicated["ips"])) == ("transition", 1)
    assert dedicated["reason"].startswith("mode dedicated set by an operator: assigned 1 IP")
    frozen = await state(api.db, "frozen")
    assert (frozen["management_type"], frozen["ips"]) == ("general", None)
    assert frozen["reason"].startswith("frozen by an operator")
    assert (await state(api.db, "auto"))["management_type"] == "transition"

    # Mode general on an account with a pool: back to General, its IPs drain.
    await set_mode(api, "auto", "general")
    await rebalance(api.pool, D0 + timedelta(days=1))
    back = await state(api.db, "auto")
    assert (back["management_type"], back["ips"], len(back["draining"])) == ("general", None, 1)
    assert back["reason"].startswith("mode general set by an operator: back to General, draining 1 IP")


async def test_a_frozen_pool_account_keeps_pool_stages_and_route(api: Api) -> None:
    await add_account(api.db, "acme", 50_000)
    await rebalance(api.pool, D0)
    before = await state(api.db, "acme")
    assert before["management_type"] == "transition"
    stages = await api.db.fetch("SELECT * FROM warmup_state ORDER BY address, mailbox_provider")
    await set_mode(api, "acme", "frozen")
    # The next day it sent nothing at all: in auto it would fall below the general threshold.
    await api.db.execute("DELETE FROM daily_history WHERE account_id = 'acme'")

    await rebalance(api.pool, D0 + timedelta(days=1))

    after = await state(api.db, "acme")
    assert (after["management_type"], after["ips"], after["draining"]) == ("transition", before["ips"], None)
    assert after["version"] == before["version"]  # the routers' entry was not republished
    assert await api.db.fetch("SELECT * FROM warmup_state ORDER BY address, mailbox_provider") == stages
    assert after["reason"].startswith("frozen by an operator")
    # Back to auto: the next run decides it again (no volume: back to General).
    await set_mode(api, "acme", "auto")
    await rebalance(api.pool, D0 + timedelta(days=2))
    assert (await state(api.db, "acme"))["management_type"] == "general"


# -- per-account overrides ------------------------------------------------------------------


async def test_update_policy_sets_replaces_and_removes_account_overrides(api: Api) -> None:
    override = types_pb2.AccountOverride
    policy = await overrides(
        api,
        override(account_id="acme", dedicated_threshold_30d=150_000),
        override(account_id="big", max_ips_per_account=3),
    )
    assert [(o.account_id, o.HasField("dedicated_threshold_30d"), o.HasField("max_ips_per_account"))
            for o in policy.account_overrides] == [("acme", True, False), ("big", False, True)]  # fmt: skip
    assert policy.account_overrides[0].dedicated_threshold_30d == 150_000
    # One entry replaces that account's override only; the others stay.
    policy = await overrides(api, override(account_id="acme", max_ips_per_account=2))
    assert [(o.account_id, o.HasField("dedicated_threshold_30d"), o.max_ips_per_account)
            for o in policy.account_overrides] == [("acme", False, 2), ("big", False, 3)]  # fmt: skip
    # An entry that sets nothing removes it; GetPolicy reads what UpdatePolicy stored.
    policy = await overrides(api, override(account_id="big"))
    assert [o.account_id for o in policy.account_overrides] == ["acme"]
    assert await api.call("GetPolicy", management_pb2.GetPolicyRequest(), "view") == policy
    audit = await api.db.fetch("SELECT new_policy::text AS p FROM policy_audit ORDER BY id")
    assert json.loads(audit[-1]["p"])["account_overrides"] == {"acme": {"max_ips_per_account": 2}}


async def test_a_key_scoped_to_some_accounts_reads_only_their_overrides(api: Api) -> None:
    override = types_pb2.AccountOverride
    await overrides(
        api, override(account_id="acme", max_ips_per_account=2), override(account_id="big", max_ips_per_account=3)
    )
    scoped = await api.call("GetPolicy", management_pb2.GetPolicyRequest(), "view_acme")
    assert [o.account_id for o in scoped.account_overrides] == ["acme"]  # "big" is not its to see
    full = await api.call("GetPolicy", management_pb2.GetPolicyRequest(), "view")
    assert [o.account_id for o in full.account_overrides] == ["acme", "big"]
    assert scoped.max_ips_per_account == full.max_ips_per_account  # the rest is the same


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            types_pb2.AccountOverride(account_id="bad id", max_ips_per_account=2),
            "policy.account_overrides names 'bad id': an account id is 1-128 characters",
        ),
        (
            types_pb2.AccountOverride(account_id="acme", max_ips_per_account=1001),
            "policy.account_overrides[acme].max_ips_per_account must be a whole number in [1, 1000], got 1001",
        ),
        (
            types_pb2.AccountOverride(account_id="acme", max_ips_per_account=-1),
            "policy.account_overrides[acme].max_ips_per_account must be a whole number in [1, 1000], got -1",
        ),
        (
            types_pb2.AccountOverride(account_id="acme", dedicated_threshold_30d=0),
            "policy.account_overrides[acme].dedicated_threshold_30d must be a whole number in [1, ",
        ),
        (
            types_pb2.AccountOverride(account_id="acme", dedicated_threshold_30d=99_999),
            "policy.account_overrides[acme].dedicated_threshold_30d must be >= policy.general_threshold_30d "
            "(100000), got 99999",
        ),
    ],
)
async def test_update_policy_refuses_a_bad_override_naming_it(
    api: Api, entry: types_pb2.AccountOverride, message: str
) -> None:
    code, details = await api.fails("UpdatePolicy", management_pb2.UpdatePolicyRequest(policy=types_pb2.Policy(
        account_overrides=[entry])))  # fmt: skip
    assert code == Code.INVALID_ARGUMENT
    assert details.startswith(message), details
    assert (await api.call("GetPolicy", management_pb2.GetPolicyRequest(), "view")).account_overrides == []


async def test_update_policy_refuses_a_general_threshold_above_an_override(api: Api) -> None:
    await overrides(api, types_pb2.AccountOverride(account_id="acme", dedicated_threshold_30d=150_000))
    code, details = await api.fails(
        "UpdatePolicy", management_pb2.UpdatePolicyRequest(policy=types_pb2.Policy(general_threshold_30d=200_000))
    )
    assert code == Code.INVALID_ARGUMENT and "policy.account_overrides[acme].dedicated_threshold_30d" in details


async def test_the_rebalancer_decides_each_account_with_its_own_overrides(api: Api) -> None:
    await add_account(api.db, "acme", 6_000)  # 180,000: below the policy's 250,000
    await add_account(api.db, "other", 6_000)
    await add_account(api.db, "big", 10_000_000)  # a peak of 4 IPs
    await overrides(
        api,
        types_pb2.AccountOverride(account_id="acme", dedicated_threshold_30d=150_000),
        types_pb2.AccountOverride(account_id="big", max_ips_per_account=2),
    )

    report = await rebalance(api.pool, D0)

    assert report.failed == 0
    acme = await state(api.db, "acme")
    assert (acme["management_type"], len(acme["ips"])) == ("transition", 1)
    assert "dedicated_threshold_30d 150,000 (account override)" in acme["reason"]
    other = await state(api.db, "other")
    assert (other["management_type"], other["reason"]) == ("general", "General: volume_30d 180,000 < 250,000")
    big = await state(api.db, "big")
    assert len(big["ips"]) == 2
    assert "(at most 2: max_ips_per_account, account override)" in big["reason"]
    figures = json.loads(await api.db.fetchval("SELECT figures::text FROM accounts WHERE account_id = 'big'"))
    assert figures["required_ips"] == 2
    # A re-run for the same day takes nothing more (the override holds in the apply path too).
    again = await rebalance(api.pool, D0)
    assert (again.applied, again.ips_assigned) == (0, 0)
