"""The rebalancer against a real PostgreSQL: decisions stored atomically, IPs never shared."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import asyncpg
import pytest

from sendingip.v1 import types_pb2
from server.management import ips
from store import routing_store
from store.database import create_pool
from store.routing_entry import AccountRoute, RegionRoute
from tests.support.routing import seed_region
from workers.rebalance.run import rebalance

D0 = date(2026, 3, 1)
PROVIDERS = ("google", "microsoft", "yahoo", "apple", "other")
INVENTORY = tuple(f"203.0.113.{i}" for i in range(1, 6))


async def _seed(db: asyncpg.Connection, inventory: int = 4) -> None:
    """us-east with one general IP and ``inventory`` IPs to give out, nothing published."""
    await seed_region(db, addresses=("198.51.100.1",), inventory=INVENTORY[:inventory], publish=False)


async def add_history(db: asyncpg.Connection, account: str, first: date, days: int, per_day: int, ip: str = "") -> None:
    rows = []
    for d in range(days):
        for provider in PROVIDERS:
            rows.append((first + timedelta(days=d), account, ip, provider, per_day // len(PROVIDERS)))
    await db.executemany(
        "INSERT INTO daily_history (day, account_id, ip, mailbox_provider, imported) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (day, account_id, ip, mailbox_provider) DO UPDATE SET imported = EXCLUDED.imported",
        rows,
    )


async def test_an_account_over_the_threshold_gets_a_pool_and_a_route(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    await _seed(db)
    await db.execute("INSERT INTO accounts (account_id, region) VALUES ('acme', 'us-east'), ('small', 'us-east')")
    await add_history(db, "acme", D0 - timedelta(days=30), 30, 50_000)
    await add_history(db, "small", D0 - timedelta(days=30), 30, 1_000)

    report = await rebalance(pool, D0)

    assert (report.accounts, report.applied, report.unchanged, report.failed) == (2, 1, 1, 0)
    acme = await db.fetchrow("SELECT * FROM accounts WHERE account_id = 'acme'")
    assert acme["management_type"] == "transition"
    assert acme["transition_started_on"] == D0
    assert "assigned 1 IP" in acme["reason"]
    ips = await db.fetch(
        "SELECT host(address) AS a, state, pool_id FROM ip_addresses WHERE state = 'dedicated' ORDER BY address"
    )
    assert [(r["a"], r["pool_id"]) for r in ips] == [("203.0.113.1", "dedicated:acme")]
    pairs = await db.fetchval("SELECT count(*) FROM warmup_state WHERE account_id = 'acme'")
    assert pairs == len(PROVIDERS)
    entry = await db.fetchrow("SELECT version, entry::text AS entry FROM routing_entries WHERE key = 'acme'")
    route = AccountRoute.from_json(entry["entry"])
    assert route.management_type == "transition" and route.pool_id == "dedicated:acme"
    assert route.hourly_burst == 2.0  # the policy's: routers pace its limits by the hour (rule 10)
    assert route.ip_capacity == 2_500_000  # the policy's ip_daily_capacity: routers cap each IP (rule 9)
    google = route.route_for("google")
    assert google is not None and 0 < google.dedicated_share < 1
    small = await db.fetchrow(
        "SELECT management_type, reason, figures::text AS f FROM accounts WHERE account_id = 'small'"
    )
    assert small["management_type"] == "general" and "< 250,000" in small["reason"]
    assert '"volume_30d":30000' in small["f"].replace(" ", "")
    # Still General: an entry that names its region and no routes (SPEC §3 v2).
    small_entry = AccountRoute.from_json(
        await db.fetchval("SELECT entry::text FROM routing_entries WHERE key = 'small'")
    )
    assert (small_entry.region, small_entry.management_type, small_entry.pool_id, small_entry.providers) == (
        "us-east",
        "general",
        None,
        {},
    )


async def test_free_ips_are_handed_out_lowest_address_first_ipv4_before_ipv6(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    await _seed(db, inventory=0)
    # In text order '2001:db8::11' < '203.0.113.10' < '203.0.113.2' < '9.9.9.9': the opposite.
    for address in ("2001:db8::11", "203.0.113.10", "203.0.113.2", "9.9.9.9"):
        await db.execute(
            "INSERT INTO ip_addresses (address, region, state) VALUES ($1::inet, 'us-east', 'inventory')", address
        )
    await db.execute("INSERT INTO accounts (account_id, region) VALUES ('acme', 'us-east')")
    await add_history(db, "acme", D0 - timedelta(days=30), 30, 6_000_000)  # a peak of 3 IPs a day

    report = await rebalance(pool, D0)

    assert report.ips_assigned == 3
    assigned = await db.fetch("SELECT host(address) AS a FROM ip_addresses WHERE state = 'dedicated'")
    assert {r["a"] for r in assigned} == {"9.9.9.9", "203.0.113.2", "203.0.113.10"}


async def test_every_account_gets_a_general_entry_and_no_entry_is_replaced(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    """Routers route a known account in its own region only if they know it (SPEC §3 v2):
    each account without an entry gets a General one naming its region."""
    await _seed(db)
    await db.execute("INSERT INTO regions (region) VALUES ('eu-west')")
    # From before every account had an entry; and one with an entry of its own.
    await db.execute("INSERT INTO accounts (account_id, region) VALUES ('legacy', 'eu-west'), ('kept', 'us-east')")
    async with db.transaction():
        kept = await routing_store.publish(
            db, [AccountRoute("kept", "us-east", "general", D0 - timedelta(days=5), None)]
        )
    # Known only from imported history: created in the default region.
    await add_history(db, "imported", D0 - timedelta(days=3), 3, 1_000)

    report = await rebalance(pool, D0)

    entries = {
        r["key"]: (r["version"], AccountRoute.from_json(r["entry"]))
        for r in await db.fetch("SELECT key, version, entry::text AS entry FROM routing_entries WHERE kind = 'account'")
    }
    assert {k: (e.region, e.management_type, e.providers) for k, (_, e) in entries.items()} == {
        "legacy": ("eu-west", "general", {}),
        "kept": ("us-east", "general", {}),
        "imported": ("us-east", "general", {}),
    }
    assert (entries["kept"][0], entries["kept"][1].day) == (kept, D0 - timedelta(days=5))
    assert report.general_entries == 2
    # Once each: the next run has nothing to publish.
    version = await db.fetchval("SELECT version FROM routing_clock")
    assert (await rebalance(pool, D0)).general_entries == 0
    assert await db.fetchval("SELECT version FROM routing_clock") == version
    # A writer that finds an entry already there (written meanwhile) leaves it as it is.
    async with db.transaction():
        await routing_store.publish_absent(db, [AccountRoute("kept", "eu-west", "general", D0, None)])
    assert await db.fetchval("SELECT version FROM routing_entries WHERE key = 'kept'") == kept


async def test_a_second_run_for_the_same_day_changes_nothing(db: asyncpg.Connection, pool: asyncpg.Pool) -> None:
    await _seed(db)
    await db.execute("INSERT INTO accounts (account_id, region) VALUES ('acme', 'us-east')")
    await add_history(db, "acme", D0 - timedelta(days=30), 30, 50_000)
    await rebalance(pool, D0)
    version = await db.fetchval("SELECT version FROM routing_clock")
    state = await db.fetch("SELECT * FROM warmup_state ORDER BY address, mailbox_provider")

    again = await rebalance(pool, D0)

    assert (again.applied, again.unchanged, again.ips_assigned, again.routes_published) == (0, 1, 0, 0)
    assert await db.fetchval("SELECT version FROM routing_clock") == version
    assert await db.fetch("SELECT * FROM warmup_state ORDER BY address, mailbox_provider") == state


async def test_stages_advance_only_for_days_the_pair_sent(db: asyncpg.Connection, pool: asyncpg.Pool) -> None:
    await _seed(db)
    await db.execute("INSERT INTO accounts (account_id, region) VALUES ('acme', 'us-east')")
    await add_history(db, "acme", D0 - timedelta(days=30), 30, 50_000)
    await rebalance(pool, D0)
    # Day D0: the dedicated IP sent to every provider. Day D0+1: nothing through it.
    await add_history(db, "acme", D0, 1, 50_000, ip="203.0.113.1")
    await rebalance(pool, D0 + timedelta(days=1))
    await rebalance(pool, D0 + timedelta(days=2))
    stages = await db.fetch("SELECT mailbox_provider, stage FROM warmup_state WHERE account_id = 'acme'")
    assert {r["stage"] for r in stages} == {1}


async def test_the_database_keeps_the_old_state_when_applying_fails(db: asyncpg.Connection, pool: asyncpg.Pool) -> None:
    await _seed(db)
    await db.execute("INSERT INTO accounts (account_id, region) VALUES ('acme', 'us-east')")
    await add_history(db, "acme", D0 - timedelta(days=30), 30, 50_000)
    # Break the last statement of the account's transaction: publishing its route.
    await db.execute("ALTER TABLE routing_entries ADD CONSTRAINT no_acme CHECK (key <> 'acme')")

    report = await rebalance(pool, D0)

    assert report.failed == 1
    assert await db.fetchval("SELECT management_type FROM accounts WHERE account_id = 'acme'") == "general"
    assert await db.fetchval("SELECT count(*) FROM ip_addresses WHERE state = 'inventory'") == 4
    assert await db.fetchval("SELECT count(*) FROM warmup_state") == 0
    assert await db.fetchval("SELECT count(*) FROM pools WHERE pool_type = 'dedicated'") == 0


async def test_racing_rebalancers_never_put_an_ip_in_two_pools(db: asyncpg.Connection, db_url: str) -> None:
    await _seed(db, inventory=5)
    accounts = [f"acct-{i:02d}" for i in range(12)]
    await db.executemany("INSERT INTO accounts (account_id, region) VALUES ($1, 'us-east')", [(a,) for a in accounts])
    for a in accounts:
        await add_history(db, a, D0 - timedelta(days=30), 30, 50_000)
    pools = [await create_pool(db_url, size=3) for _ in range(2)]
    try:
        versions: list[int] = []
        for offset in range(10):
            day = D0 + timedelta(days=offset)
            await asyncio.gather(*(rebalance(p, day) for p in pools))
            versions.append(await db.fetchval("SELECT version FROM routing_clock"))
    finally:
        for p in pools:
            await p.close()

    assigned = await db.fetch(
        "SELECT host(address) AS a, pool_id FROM ip_addresses WHERE state IN ('dedicated', 'draining')"
    )
    assert len(assigned) == 5, "every free IP went to exactly one account"
    owners = await db.fetch(
        "SELECT a.account_id, count(i.*) AS n FROM accounts a JOIN pools p ON p.account_id = a.account_id "
        "JOIN ip_addresses i ON i.pool_id = p.pool_id GROUP BY a.account_id"
    )
    assert sum(r["n"] for r in owners) == 5 and all(r["n"] == 1 for r in owners)
    assert versions == sorted(versions)
    entries = await db.fetch("SELECT version FROM routing_entries ORDER BY version")
    assert len({r["version"] for r in entries}) == len(entries)
    waiting = await db.fetch("SELECT reason FROM accounts WHERE management_type = 'general'")
    assert len(waiting) == 7 and all("inventory of us-east has 0 free IPs" in r["reason"] for r in waiting)


async def _region_entry(db: asyncpg.Connection, region: str = "us-east") -> RegionRoute:
    text = await db.fetchval("SELECT entry FROM routing_entries WHERE kind = 'region' AND key = $1", region)
    return RegionRoute.from_json(text)


async def _general_statuses(db: asyncpg.Connection, day: date) -> dict[str, int]:
    listed = await ips.list_sending_ips(db, "acme", day)
    return {ip.address: ip.status for ip in listed.ips if ip.pool_type == types_pb2.POOL_TYPE_GENERAL}


async def test_a_general_ip_added_to_a_region_ramps_in_along_the_schedule(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    """SPEC rule 12: two warm general IPs (there before rule 12) and a third added: the
    third's weight is its stage's limit, growing with each day it carried traffic, and it
    is In Progress until warm."""
    await seed_region(db, addresses=("192.0.2.1", "192.0.2.2"), publish=False)
    await db.execute("UPDATE policy SET warmup_schedule = ARRAY[100, 1000, 10000]::bigint[]")
    await db.execute("INSERT INTO accounts (account_id, region) VALUES ('acme', 'us-east')")
    await ips.add_ips(db, "us-east", ["192.0.2.3"], types_pb2.IP_PURPOSE_GENERAL_POOL)
    entry = await _region_entry(db)
    assert entry.addresses == ("192.0.2.1", "192.0.2.2", "192.0.2.3")
    assert entry.weights == pytest.approx((10_000 / 20_100, 10_000 / 20_100, 100 / 20_100))
    assert (await _general_statuses(db, D0))["192.0.2.3"] == types_pb2.IP_STATUS_IN_PROGRESS
    assert (await _general_statuses(db, D0))["192.0.2.1"] == types_pb2.IP_STATUS_ACTIVE

    await rebalance(pool, D0)  # nothing carried yet: stage 0 still
    assert (await _region_entry(db)).weights == entry.weights
    await add_history(db, "acme", D0, 1, 500, ip="192.0.2.3")
    await rebalance(pool, D0 + timedelta(days=1))
    weights = (await _region_entry(db)).weights
    assert weights == pytest.approx((10_000 / 21_000, 10_000 / 21_000, 1000 / 21_000))
    version = await db.fetchval("SELECT version FROM routing_clock")
    await rebalance(pool, D0 + timedelta(days=1))  # the same day again: counted once
    assert (await _region_entry(db)).weights == weights
    assert await db.fetchval("SELECT version FROM routing_clock") == version
    await rebalance(pool, D0 + timedelta(days=2))  # a day without traffic through it holds it
    assert (await _region_entry(db)).weights == weights

    for d in (2, 3):
        await add_history(db, "acme", D0 + timedelta(days=d), 1, 500, ip="192.0.2.3")
        await rebalance(pool, D0 + timedelta(days=d + 1))
    assert (await _region_entry(db)).weights == ()  # warm: equal shares
    assert set((await _general_statuses(db, D0 + timedelta(days=4))).values()) == {types_pb2.IP_STATUS_ACTIVE}
    assert await db.fetchval("SELECT general_stage FROM ip_addresses WHERE address = '192.0.2.3'") is None


async def test_a_fresh_region_of_new_general_ips_routes_equally(db: asyncpg.Connection, pool: asyncpg.Pool) -> None:
    await ips.add_ips(db, "eu-west", ["192.0.2.7", "192.0.2.8"], types_pb2.IP_PURPOSE_GENERAL_POOL)
    assert (await _region_entry(db, "eu-west")).weights == ()
    await rebalance(pool, D0)
    entry = await _region_entry(db, "eu-west")
    assert entry.addresses == ("192.0.2.7", "192.0.2.8") and entry.weights == ()


async def test_accounts_to_apply_from_many_chunks_are_all_applied_while_later_chunks_are_decided(
    db: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    """Chunks of 1, two applying connections kept from one account to the next: each chunk
    is written while the next is read and decided; each account over the threshold gets
    its pool, the others only their figures, and the run counts each once."""
    await _seed(db, inventory=5)
    big = [f"big{i}" for i in range(5)]
    accounts = sorted([*big, "small0", "small1"])
    await db.execute("INSERT INTO accounts (account_id, region) SELECT unnest($1::text[]), 'us-east'", accounts)
    for account in accounts:
        await add_history(db, account, D0 - timedelta(days=30), 30, 50_000 if account in big else 1_000)

    report = await rebalance(pool, D0, chunk_accounts=1, apply_concurrency=2)

    assert (report.accounts, report.applied, report.unchanged, report.failed) == (7, 5, 2, 0)
    rows = await db.fetch("SELECT account_id, management_type, last_decided_on FROM accounts ORDER BY account_id")
    assert [(r["account_id"], r["management_type"], r["last_decided_on"]) for r in rows] == [
        (a, "transition" if a in big else "general", D0) for a in accounts
    ]
    owners = await db.fetch(
        "SELECT p.account_id FROM ip_addresses i JOIN pools p USING (pool_id) WHERE p.pool_type = 'dedicated' ORDER BY 1"
    )
    assert [r["account_id"] for r in owners] == big  # one IP each, none shared
