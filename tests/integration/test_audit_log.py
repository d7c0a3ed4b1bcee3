"""The audit log (SPEC §3 v2 ListAuditEvents, issue 17 item 2): every admin call and every
decision of the rebalancer is one event, written in the transaction of the change; listed
newest first, page by page, filtered, within a key's account scope; pruned after the
policy's audit_retention_days."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import pytest

from sendingip.v1 import management_pb2, types_pb2
from server.auth.store import create_key, revoke_key
from store import audit
from tests.support.management import Api, management_api
from tests.support.routing import seed_region
from workers.rebalance.run import rebalance

pytestmark = pytest.mark.integration

D0 = date(2026, 3, 1)
PROVIDERS = ("google", "microsoft", "yahoo", "apple", "other")
INVENTORY = tuple(f"203.0.113.{i}" for i in range(1, 6))
Code = grpc.StatusCode
List = management_pb2.ListAuditEventsRequest


@pytest.fixture
async def api(db_url: str, db: asyncpg.Connection) -> AsyncIterator[Api]:
    async with management_api(db_url, db, clock=lambda: datetime(2026, 3, 1, 12, tzinfo=UTC)) as api:
        await seed_region(db, addresses=("198.51.100.1",), inventory=INVENTORY, publish=False)
        yield api


async def listed(api: Api, request: management_pb2.ListAuditEventsRequest, key: str = "view") -> list[Any]:
    """Every event the request lists, following the pages."""
    events: list[Any] = []
    while True:
        response = await api.call("ListAuditEvents", request, key)
        events.extend(response.events)
        if not response.next_page_token:
            return events
        request = List(
            account_id=request.account_id,
            since=request.since,
            kinds=request.kinds,
            page_size=request.page_size,
            page_token=response.next_page_token,
        )


def change(event: Any) -> tuple[Any, Any]:
    return (json.loads(event.before) if event.before else None, json.loads(event.after) if event.after else None)


async def add_history(db: asyncpg.Connection, account: str, per_day: int, days: int = 30) -> None:
    await db.executemany(
        "INSERT INTO daily_history (day, account_id, ip, mailbox_provider, imported) VALUES ($1, $2, '', $3, $4)",
        [
            (D0 - timedelta(days=d + 1), account, provider, per_day // len(PROVIDERS))
            for d in range(days)
            for provider in PROVIDERS
        ],
    )


# -- admin calls ----------------------------------------------------------------------------


async def test_each_admin_call_that_changes_something_is_one_event_by_its_key(api: Api) -> None:
    admin = api.key_id("admin")
    await api.call("CreateAccount", management_pb2.CreateAccountRequest(account_id="acme", region="us-east"))
    await api.call("CreateAccount", management_pb2.CreateAccountRequest(account_id="acme", region="us-east"))
    await api.call(
        "ImportHistory",
        management_pb2.ImportHistoryRequest(
            volumes=[
                types_pb2.DailyVolume(account_id="acme", day="2026-02-27", mailbox_provider="google", count=10),
                types_pb2.DailyVolume(account_id="acme", day="2026-02-28", mailbox_provider="yahoo", count=5),
            ]
        ),
    )
    await api.call(
        "UpdatePolicy",
        management_pb2.UpdatePolicyRequest(policy=types_pb2.Policy(quarantine_days=10, audit_retention_days=90)),
    )
    await api.call("UpdatePolicy", management_pb2.UpdatePolicyRequest(policy=types_pb2.Policy(quarantine_days=10)))
    await api.call("PauseWarmup", management_pb2.PauseWarmupRequest(account_id="acme"))
    await api.call("PauseWarmup", management_pb2.PauseWarmupRequest(account_id="acme"))  # paused already
    await api.call("ResumeWarmup", management_pb2.ResumeWarmupRequest(account_id="acme"), "admin_acme")
    await api.call("SetAccountMode", management_pb2.SetAccountModeRequest(account_id="acme", mode="frozen"))

    events = await listed(api, List())
    assert [(e.kind, e.actor, e.account_id) for e in events] == [
        ("SetAccountMode", admin, "acme"),
        ("ResumeWarmup", api.key_id("admin_acme"), "acme"),
        ("PauseWarmup", admin, "acme"),
        ("UpdatePolicy", admin, ""),
        ("ImportHistory", admin, "acme"),
        ("CreateAccount", admin, "acme"),
    ]
    by_kind = {e.kind: e for e in events}
    assert change(by_kind["UpdatePolicy"]) == (
        {"quarantine_days": 30, "audit_retention_days": 400},
        {"quarantine_days": 10, "audit_retention_days": 90},
    )
    assert change(by_kind["PauseWarmup"]) == ({"warmup_paused": False}, {"warmup_paused": True})
    assert change(by_kind["ResumeWarmup"]) == ({"warmup_paused": True}, {"warmup_paused": False})
    assert change(by_kind["CreateAccount"]) == (None, {"region": "us-east"})
    _, imported = change(by_kind["ImportHistory"])
    assert imported["rows"] == 2 and imported["imported"] == 15
    assert (imported["first_day"], imported["last_day"], imported["account_ids"]) == (
        "2026-02-27",
        "2026-02-28",
        ["acme"],
    )
    assert [datetime.fromisoformat(e.at).tzinfo for e in events] == [UTC] * len(events)
    assert [e.id for e in events] == sorted((e.id for e in events), reverse=True)


async def test_a_refused_admin_call_leaves_no_event(api: Api) -> None:
    assert (await api.fails("UpdatePolicy", management_pb2.UpdatePolicyRequest(policy=types_pb2.Policy(drain_days=0))))[
        0
    ] == Code.INVALID_ARGUMENT
    assert (await api.fails("CreateAccount", management_pb2.CreateAccountRequest(account_id="acme", region="nowhere")))[
        0
    ] == Code.FAILED_PRECONDITION
    assert await api.db.fetchval("SELECT count(*) FROM audit_events") == 0


async def test_each_ip_call_delete_account_and_key_command_is_an_event_with_before_and_after(api: Api) -> None:
    m = management_pb2
    admin, cli = api.key_id("admin"), audit.cli_actor()
    await api.db.execute("INSERT INTO accounts (account_id, region) VALUES ('acme', 'us-east')")
    await add_history(api.db, "acme", 50_000)
    assert (await rebalance(api.pool, D0)).failed == 0  # acme in Transition: a pool to assign to
    await api.db.execute("DELETE FROM audit_events")
    free = await api.db.fetchval("SELECT host(min(address)) FROM ip_addresses WHERE state = 'inventory'")
    pool = await api.db.fetch("SELECT host(address) AS a FROM ip_addresses WHERE state = 'dedicated'")
    general = "198.51.100.2"

    purpose = types_pb2.IP_PURPOSE_GENERAL_POOL
    add = m.AddIPsRequest(region="us-east", addresses=[general], purpose=purpose, hostnames=["mta2.example.com"])
    await api.call("AddIPs", add)
    await api.call("BlockIPs", m.BlockIPsRequest(addresses=[general], reason="listed on SBL"))
    await api.call("UnblockIPs", m.UnblockIPsRequest(addresses=[general]))
    await api.call("UnblockIPs", m.UnblockIPsRequest(addresses=[general]))  # not blocked: no event
    await api.call("AssignIPs", m.AssignIPsRequest(account_id="acme", addresses=[free]))
    await api.call("RemoveIPs", m.RemoveIPsRequest(addresses=[general]))
    await api.call("DeleteAccount", m.DeleteAccountRequest(account_id="acme"))
    await api.call("DeleteAccount", m.DeleteAccountRequest(account_id="acme"))  # deleted already: no event
    new, _ = await create_key(api.db, ["view"], ["acme"], "dashboards", actor=cli)
    await revoke_key(api.db, new.key_id, actor=cli)

    events = list(reversed(await listed(api, List())))
    assert [(e.kind, e.actor, e.account_id, list(e.addresses)) for e in events] == [
        ("AddIPs", admin, "", [general]),
        ("BlockIPs", admin, "", [general]),
        ("UnblockIPs", admin, "", [general]),
        ("AssignIPs", admin, "acme", [free]),
        ("RemoveIPs", admin, "", [general]),
        ("DeleteAccount", admin, "acme", sorted([free, *(r["a"] for r in pool)])),
        ("CreateKey", cli, "", []),
        ("RevokeKey", cli, "", []),
    ]
    changes = [change(e) for e in events]
    assert changes[0] == (None, {"region": "us-east", "state": "general", "hostnames": {general: "mta2.example.com"}})
    assert changes[1] == ({general: "general"}, {general: "blocked"}) and events[1].reason == "listed on SBL"
    assert changes[2] == ({general: "blocked"}, {general: "unblocked"})
    assert changes[3] == ({free: "free"}, {free: "assigned"})
    assert changes[4] == ({general: "general"}, {general: "draining"})
    assert changes[5][0] == {"management_type": "transition", "pool_id": "dedicated:acme"}
    assert changes[5][1]["deleted"] is True
    assert changes[6] == (
        None,
        {"key_id": new.key_id, "permissions": ["view"], "accounts": ["acme"], "description": "dashboards"},
    )
    assert changes[7] == ({"key_id": new.key_id, "revoked": False}, {"key_id": new.key_id, "revoked": True})


# -- the rebalancer ---------------------------------------------------------------------------


async def test_a_rebalance_records_its_decisions_in_the_accounts_transaction(api: Api) -> None:
    await api.db.execute("INSERT INTO accounts (account_id, region) VALUES ('acme', 'us-east')")
    await add_history(api.db, "acme", 50_000)
    # The account's transaction fails after its IP assignments were recorded: none may stay.
    await api.db.execute(
        """CREATE FUNCTION fail_transition() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'test: the transaction fails here'; END $$;
           CREATE TRIGGER fail_transition AFTER INSERT ON audit_events
           FOR EACH ROW WHEN (NEW.kind = 'transition_started') EXECUTE FUNCTION fail_transition()"""
    )
    report = await rebalance(api.pool, D0)
    assert (report.failed, report.ips_assigned) == (1, 1)  # counted while applying, then rolled back
    assert await api.db.fetchval("SELECT count(*) FROM audit_events") == 0
    assert await api.db.fetchval("SELECT count(*) FROM ip_addresses WHERE state = 'dedicated'") == 0

    await api.db.execute("DROP TRIGGER fail_transition ON audit_events")
    report = await rebalance(api.pool, D0)
    assert report.failed == 0
    assigned = await api.db.fetch(
        "SELECT host(address) AS address FROM ip_addresses WHERE state = 'dedicated' ORDER BY address"
    )
    events = await listed(api, List(account_id="acme"))
    assert {e.actor for e in events} == {audit.REBALANCER}
    kinds = [e.kind for e in reversed(events)]
    assert kinds == ["ip_assigned"] * len(assigned) + ["transition_started"]
    assert sorted(a for e in events if e.kind == "ip_assigned" for a in e.addresses) == [r["address"] for r in assigned]
    transition = events[0]
    assert change(transition) == ({"management_type": "general"}, {"management_type": "transition"})
    assert transition.reason.startswith("volume_30d 1,500,000")
    assert change(events[-1]) == ({"state": "free"}, {"state": "assigned"})


async def test_a_quarantined_ip_back_in_inventory_is_an_event(api: Api) -> None:
    await api.db.execute(
        "UPDATE ip_addresses SET state = 'quarantine', quarantine_until = $1 WHERE address = '203.0.113.1'", D0
    )
    await rebalance(api.pool, D0)
    (event,) = await listed(api, List(kinds=["ip_returned"]))
    assert (event.actor, event.account_id, list(event.addresses)) == (audit.REBALANCER, "", ["203.0.113.1"])
    assert change(event) == ({"state": "quarantined", "region": "us-east"}, {"state": "free", "region": "us-east"})


# -- listing ----------------------------------------------------------------------------------


async def seed_events(db: asyncpg.Connection, n: int) -> list[int]:
    ids = []
    for i in range(n):
        ids.append(
            await audit.record(
                db,
                actor=audit.REBALANCER,
                kind=("ip_assigned", "ip_draining", "stage_hold")[i % 3],
                account_id=("acme", "other", None)[i % 3],
                addresses=[f"203.0.113.{i % 5 + 1}"],
            )
        )
    return ids


async def test_pages_neither_repeat_nor_miss_an_event_while_new_ones_are_written(api: Api) -> None:
    ids = await seed_events(api.db, 50)
    seen: list[int] = []
    request = List(page_size=7)
    while True:
        response = await api.call("ListAuditEvents", request, "view")
        assert len(response.events) <= 7
        seen.extend(e.id for e in response.events)
        await seed_events(api.db, 2)  # newer than every page: they show on a next first page
        if not response.next_page_token:
            break
        request = List(page_size=7, page_token=response.next_page_token)
    assert seen == sorted(ids, reverse=True)

    acme = await listed(api, List(account_id="acme", kinds=["ip_assigned"], page_size=3))
    assert acme and {(e.account_id, e.kind) for e in acme} == {("acme", "ip_assigned")}
    held = await listed(api, List(kinds=["stage_hold", "ip_draining"], page_size=4))
    assert {e.kind for e in held} == {"stage_hold", "ip_draining"}
    assert len(held) == await api.db.fetchval(
        "SELECT count(*) FROM audit_events WHERE kind IN ('stage_hold', 'ip_draining')"
    )


async def test_since_keeps_the_events_at_or_after_it(api: Api) -> None:
    await seed_events(api.db, 3)
    await api.db.execute(
        "UPDATE audit_events SET at = '2026-02-01T10:00:00Z' WHERE id = (SELECT min(id) FROM audit_events)"
    )
    assert len(await listed(api, List(since="2026-02-02"))) == 2
    assert len(await listed(api, List(since="2026-02-01"))) == 3
    assert len(await listed(api, List(since="2026-02-01T10:00:01Z"))) == 2
    assert len(await listed(api, List(since="2026-02-01T11:00:00+01:00"))) == 3


async def test_a_scoped_key_sees_its_accounts_events_only(api: Api) -> None:
    await seed_events(api.db, 9)
    mine = await listed(api, List(), "view_acme")
    assert len(mine) == 3 and {e.account_id for e in mine} == {"acme"}
    assert len(await listed(api, List(account_id="acme"), "view_acme")) == 3
    assert (await api.fails("ListAuditEvents", List(account_id="other"), "view_acme"))[0] == Code.PERMISSION_DENIED
    assert (await api.fails("ListAuditEvents", List(), "route"))[0] == Code.PERMISSION_DENIED
    assert (await api.fails("ListAuditEvents", List(), None))[0] == Code.UNAUTHENTICATED
    assert len(await listed(api, List(), "view")) == 9


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (List(since="yesterday"), "since: 'yesterday' is not a day YYYY-MM-DD or an RFC 3339 time"),
        (List(since="2026-02-30"), "since: '2026-02-30' is not a date YYYY-MM-DD"),
        (List(since="2026-02-01T10:00:00"), "since: '2026-02-01T10:00:00' has no offset"),
        (List(kinds=["ip_assigned", "IpAssigned"]), "kinds: 'IpAssigned' is not an audit event kind"),
        (List(page_size=-1), "page_size must be >= 0"),
        (List(page_token="garbage"), "page_token is not a token this server issued"),
        (List(account_id="bad id"), "account_id:"),
    ],
)
async def test_bad_filters_are_invalid_argument(
    api: Api, request_: management_pb2.ListAuditEventsRequest, message: str
) -> None:
    code, details = await api.fails("ListAuditEvents", request_, "view")
    assert code == Code.INVALID_ARGUMENT
    assert details.startswith(message), details


async def test_a_page_token_is_for_the_filters_it_was_issued_with(api: Api) -> None:
    await seed_events(api.db, 6)
    first = await api.call("ListAuditEvents", List(page_size=2, kinds=["ip_assigned", "ip_draining"]), "view")
    assert first.next_page_token
    code, details = await api.fails(
        "ListAuditEvents", List(page_size=2, kinds=["ip_assigned"], page_token=first.next_page_token), "view"
    )
    assert (code, details) == (
        Code.INVALID_ARGUMENT,
        "page_token was issued for other filters; keep the filters of the first page",
    )


# -- retention --------------------------------------------------------------------------------


async def test_a_rebalance_prunes_events_past_the_retention(api: Api) -> None:
    ids = await seed_events(api.db, 3)
    await api.db.execute("UPDATE audit_events SET at = now() - interval '401 days' WHERE id = $1", ids[0])
    await api.db.execute("UPDATE audit_events SET at = now() - interval '30 days' WHERE id = $1", ids[1])
    report = await rebalance(api.pool, D0)
    assert report.audit_events_pruned == 1
    assert [e.id for e in await listed(api, List())] == [ids[2], ids[1]]

    await api.call("UpdatePolicy", management_pb2.UpdatePolicyRequest(policy=types_pb2.Policy(audit_retention_days=29)))
    report = await rebalance(api.pool, D0)
    assert report.audit_events_pruned == 1
    assert [e.kind for e in await listed(api, List())] == ["UpdatePolicy", "stage_hold"]
    assert (
        await api.fails(
            "UpdatePolicy", management_pb2.UpdatePolicyRequest(policy=types_pb2.Policy(audit_retention_days=0))
        )
    )[1] == "policy.audit_retention_days must be a whole number >= 1, got 0"


async def test_record_refuses_a_kind_not_in_the_list(db: asyncpg.Connection) -> None:
    with pytest.raises(ValueError, match=r"'IpAssigned' is not in store\.audit\.KINDS"):
        await audit.record(db, actor=audit.REBALANCER, kind="IpAssigned")
