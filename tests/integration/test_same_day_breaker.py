"""The same-day breaker (SPEC §2 rule 11) with real routers on a real PostgreSQL.

A report through ``ReportOutcomes`` to one router rests the pair in every router: the
other router stops giving it dedicated picks within 60 s (here: within a few seconds,
by NOTIFY, with the poll set to 30 s so that it cannot be the poll that did it).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from sendingip.v1 import router_pb2, types_pb2
from server.management.accounts import get_account
from tests.support.inprocess import QUICK, InProcessServer, Servers, server_config
from tests.support.requests import pick_request
from tests.support.routing import DEDICATED_IPS, account_route, publish, seed_region

pytestmark = pytest.mark.integration

StartRouter = Callable[..., Awaitable[InProcessServer]]
RESTED, OTHER = DEDICATED_IPS
#: Picks per look: enough that a pair with half the pool's weight is chosen for sure.
PICKS = 60


@pytest.fixture
async def start_router(tmp_path: Path) -> AsyncIterator[StartRouter]:
    servers = Servers()

    async def start(url: str) -> InProcessServer:
        settings = {
            **QUICK,
            "router_id": f"r{len(servers.started)}",
            "poll_interval": 30.0,
            "metrics_listen": "127.0.0.1:0",
        }
        config = server_config(url, tmp_path / f"r{len(servers.started)}", settings)
        return await servers.start(config)

    try:
        yield start
    finally:
        await servers.stop()


async def _dedicated_pool(db: asyncpg.Connection, account: str, management_type: str) -> None:
    """``account`` in ``management_type`` with ``DEDICATED_IPS`` in its pool, as the
    rebalancer leaves it (the rows the breaker checks a reported pair against)."""
    today = datetime.now(UTC).date()
    await db.execute(
        "INSERT INTO accounts (account_id, region, management_type, transition_started_on, dedicated_on) "
        "VALUES ($1, 'us-east', $2, $3, $4)",
        account,
        management_type,
        today,
        today if management_type == "dedicated" else None,
    )
    await db.execute(
        "INSERT INTO pools (pool_id, region, pool_type, account_id) VALUES ($1, 'us-east', 'dedicated', $2)",
        f"dedicated-{account}",
        account,
    )
    await db.executemany(
        "INSERT INTO ip_addresses (address, region, state, pool_id, assigned_on) "
        "VALUES ($1::inet, 'us-east', 'dedicated', $2, $3)",
        [(a, f"dedicated-{account}", today) for a in DEDICATED_IPS],
    )


async def _picked(router: InProcessServer, provider_domain: str, start: int) -> set[str]:
    """The IPs of ``PICKS`` fresh messages (not retries: a retry is answered the same way)."""
    ips = set()
    for i in range(start, start + PICKS):
        response = await router.stub.SelectSendingIP(pick_request(f"<{i}@mta.example>", "acme", provider_domain))
        ips.add(response.ip)
    return ips


def _outcome(ip: str, provider: str, **counts: int) -> types_pb2.Outcome:
    today = datetime.now(UTC).date().isoformat()
    return types_pb2.Outcome(account_id="acme", ip=ip, mailbox_provider=provider, day=today, **counts)


async def _until(predicate: Callable[[], Awaitable[bool]], timeout: float) -> float:
    """Seconds until ``predicate`` holds; fails after ``timeout``."""
    started = time.monotonic()
    while not await predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout:.0f} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def test_a_bounce_burst_reported_to_one_router_stops_the_pairs_dedicated_picks_in_every_router(
    db: asyncpg.Connection, db_url: str, start_router: StartRouter
) -> None:
    await seed_region(db)
    await _dedicated_pool(db, "acme", "dedicated")
    await publish(db, account_route("acme", management_type="dedicated", share=1.0))
    reporter, picker = await start_router(db_url), await start_router(db_url)
    assert await _picked(picker, "gmail.com", 0) == {RESTED, OTHER}

    # Below same_day_min_outcomes (200), even 27% bouncing trips nothing.
    await reporter.stub.ReportOutcomes(
        router_pb2.ReportOutcomesRequest(outcomes=[_outcome(RESTED, "google", delivered=40, bounced=15)])
    )
    await reporter.stub.ReportOutcomes(
        router_pb2.ReportOutcomesRequest(outcomes=[_outcome(RESTED, "google", delivered=100)])
    )
    assert await db.fetchval("SELECT count(*) FROM pair_rests") == 0, "tripped before 200 outcomes"
    # Over it: 240 outcomes today, 6.25% bounced (≥ the 5% hold threshold).
    await reporter.stub.ReportOutcomes(
        router_pb2.ReportOutcomesRequest(outcomes=[_outcome(RESTED, "google", delivered=85)])
    )
    rest = await db.fetchrow("SELECT kind, until, reason FROM pair_rests WHERE ip = $1", RESTED)
    assert rest["kind"] == "hold"
    assert rest["until"] == datetime.combine(datetime.now(UTC).date() + timedelta(days=1), datetime.min.time(), UTC)
    assert rest["reason"] == "bounce 6.25% ≥ 5% of 240 outcomes today"

    start = 1000

    async def stopped() -> bool:
        nonlocal start
        start += PICKS
        return RESTED not in await _picked(picker, "gmail.com", start)

    seconds = await _until(stopped, 60)
    assert seconds < 10, "NOTIFY should carry it; the poll (30 s) must not be what did"
    assert "sendingip_resting_pairs 1.0" in picker.metrics()
    # The pool's other IP takes google's mail (Dedicated overflows inside its pool), and
    # the rested IP still carries the providers that did not trip.
    assert await _picked(picker, "gmail.com", 5000) == {OTHER}
    assert RESTED in await _picked(picker, "outlook.com", 6000)

    account = await get_account(db, "acme")
    assert account.reason.startswith(
        f"same-day breaker: {RESTED} takes no google picks until the end of the UTC day "
        "(bounce 6.25% ≥ 5% of 240 outcomes today)"
    )
    event = await db.fetchrow("SELECT actor, kind, account_id, addresses, after, reason FROM audit_events")
    assert (event["actor"], event["kind"], event["account_id"], event["addresses"]) == (
        "router",
        "breaker_hold",
        "acme",
        [RESTED],
    )
    assert json.loads(event["after"])["provider"] == "google"
    # A later report of the same day rests nothing anew: one event per trip.
    await reporter.stub.ReportOutcomes(
        router_pb2.ReportOutcomesRequest(outcomes=[_outcome(RESTED, "google", bounced=10)])
    )
    assert await db.fetchval("SELECT count(*) FROM audit_events") == 1


async def test_a_throttled_pair_rests_for_throttle_pause_minutes_and_others_are_untouched(
    db: asyncpg.Connection, db_url: str, start_router: StartRouter
) -> None:
    await seed_region(db)
    await _dedicated_pool(db, "acme", "transition")
    await publish(db, account_route("acme", management_type="transition", share=1.0, limits=(10_000, 10_000)))
    await db.execute("UPDATE policy SET throttle_pause_minutes = 15")
    router = await start_router(db_url)
    before = datetime.now(UTC)
    await router.stub.ReportOutcomes(
        router_pb2.ReportOutcomesRequest(
            outcomes=[
                _outcome(RESTED, "yahoo", delivered=5, throttled=2),
                # A general pool IP, and a day that is not today: no rest for either.
                _outcome("192.0.2.1", "yahoo", throttled=50),
                types_pb2.Outcome(
                    account_id="acme", ip=OTHER, mailbox_provider="yahoo", day=str(date(2025, 3, 1)), throttled=9
                ),
            ]
        )
    )
    rows = await db.fetch("SELECT ip, mailbox_provider, kind, until, reason FROM pair_rests")
    assert [(r["ip"], r["mailbox_provider"], r["kind"]) for r in rows] == [(RESTED, "yahoo", "throttle")]
    until = rows[0]["until"]
    assert before + timedelta(minutes=15) <= until <= datetime.now(UTC) + timedelta(minutes=15)
    assert rows[0]["reason"] == "throttled by the provider (2 × 421/4.7.x): rests 15 min"
    event = await db.fetchrow("SELECT actor, kind, account_id, addresses, reason FROM audit_events")
    assert tuple(event.values()) == ("router", "breaker_throttle", "acme", [RESTED], rows[0]["reason"])

    start = 0

    async def moved() -> bool:
        nonlocal start
        start += PICKS
        return RESTED not in await _picked(router, "yahoo.com", start)

    await _until(moved, 60)
    # In Transition the rested pair's share goes to the shared pool, flagged overflow.
    for i in range(PICKS):
        request = pick_request(f"<y{i}@mta.example>", "acme", "yahoo.com")
        answer = await router.stub.SelectSendingIP(request)
        assert answer.ip != RESTED
        assert answer.overflow == (answer.pool_type == types_pb2.POOL_TYPE_GENERAL)
    assert RESTED in await _picked(router, "gmail.com", 9000)
