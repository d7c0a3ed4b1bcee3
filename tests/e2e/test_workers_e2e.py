"""Sixty simulated days with the real processes.

A router started as a user would (`sendingip serve --no-workers`), `sendingip worker
--once --as-of D` for each day, history written as ImportHistory writes it (its query:
ImportHistory itself refuses days older than the history kept, and these lie months back),
outcomes through ReportOutcomes, and the routed split observed through real picks. The days simulated lie
in the past, so the router's own counts (on the real today) never enter their windows;
the observation picks are sent as retries, which are answered exactly like first picks
but neither counted nor held against today's limits.

The story (SPEC §2, v2 rules 2 and 4): an account crosses the threshold, warms up on the
volume it carries while the routed share follows the plan, and becomes Dedicated once its
limits cover its demand (about 12 days; 30 under the v1 rules); later it grows past one
IP's capacity and gains a second IP that warms the same way; a declining
account is scaled back to General and its IP goes through quarantine back to the
inventory; a bounce spike holds one account's ramp; a small account stays General.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import grpc
import pytest

from sendingip.v1 import management_pb2, management_pb2_grpc, router_pb2, router_pb2_grpc, types_pb2
from tests.support.databases import DatabaseFactory
from tests.support.processes import SENDINGIP, ServerProcess, sendingip_env
from tests.support.requests import pick_request

pytestmark = pytest.mark.e2e

DAYS = 60
SAMPLE = 1500  # observation picks per account and day
MIX = {"google": 0.5, "microsoft": 0.3, "other": 0.2}
DOMAINS = {"google": "gmail.com", "microsoft": "outlook.com", "other": "example.org"}
GENERAL_IPS = ["192.0.2.1", "192.0.2.2"]
INVENTORY = [f"198.51.100.{i}" for i in range(1, 6)]
_ADMIN_KEY = re.compile(r"admin key \(shown once\): (\S+)")


def volume(account: str, offset: int) -> int:
    """Messages the account sends on day D0 + offset (offset < 0: history before D0)."""
    if account == "grower":
        return 100_000 if offset < 34 else 3_000_000
    if account == "decliner":
        return 20_000 if offset < 8 else 400
    if account == "spiky":
        return 30_000
    return 2_000  # small


SPIKE_DAYS = range(5, 10)  # spiky's dedicated IP bounces 7% on these days: hold, no advance


@dataclass
class Day:
    management_type: int = 0
    dedicated: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    planned_share: float = 0.0
    observed_share: float = 0.0
    reason: str = ""


@pytest.fixture
def world(databases: DatabaseFactory, db_url: str) -> Iterator[tuple[str, str, str]]:
    env = sendingip_env(db_url, SENDINGIP_METRICS_LISTEN="0")
    server = ServerProcess(env, ["--no-workers"])
    try:
        target = server.target
        server.wait_listening()
        match = _ADMIN_KEY.search(server.output)
        assert match, server.output
        yield db_url, target, match[1]
    finally:
        server.stop()


@pytest.mark.timeout(300)  # 60 `worker --once` processes: ~60 s on a quiet machine, twice that on a busy one
def test_sixty_days_of_warm_up_scale_out_scale_in_and_a_held_ramp(world: tuple[str, str, str]) -> None:
    db_url, target, key = world
    metadata = (("authorization", f"Bearer {key}"),)
    today = datetime.now(UTC).date()
    d0 = today - timedelta(days=DAYS + 3)
    accounts = ("grower", "decliner", "spiky", "small")

    with grpc.insecure_channel(target) as channel:
        mgmt = management_pb2_grpc.ManagementStub(channel)  # type: ignore[no-untyped-call]
        router = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
        mgmt.AddIPs(
            management_pb2.AddIPsRequest(
                region="us-east", addresses=GENERAL_IPS, purpose=types_pb2.IP_PURPOSE_GENERAL_POOL
            ),
            metadata=metadata,
        )
        mgmt.AddIPs(
            management_pb2.AddIPsRequest(region="us-east", addresses=INVENTORY, purpose=types_pb2.IP_PURPOSE_INVENTORY),
            metadata=metadata,
        )
        # A short quarantine so that a released IP is seen back in the inventory.
        mgmt.UpdatePolicy(
            management_pb2.UpdatePolicyRequest(policy=types_pb2.Policy(quarantine_days=5)), metadata=metadata
        )
        for account in accounts:
            mgmt.CreateAccount(
                management_pb2.CreateAccountRequest(account_id=account, region="us-east"), metadata=metadata
            )
        # 30 days of history from before sendingip (sending IP unknown).
        _import_history(
            db_url,
            [
                (d0 + timedelta(days=o), account, "", p, int(volume(account, o) * share))
                for account in accounts
                for o in range(-30, 0)
                for p, share in MIX.items()
            ],
        )

        timeline: dict[str, list[Day]] = defaultdict(list)
        ip_states: dict[str, set[str]] = defaultdict(set)
        for offset in range(DAYS):
            day = d0 + timedelta(days=offset)
            _rebalance(db_url, day)
            version = _wait_for_latest_version(router, metadata, db_url)
            imports: list[tuple[date, str, str, str, int]] = []
            outcomes: list[types_pb2.Outcome] = []
            for account in accounts:
                table = mgmt.ListSendingIPs(management_pb2.ListSendingIPsRequest(account_id=account), metadata=metadata)
                observed = _observe(router, metadata, account, day, version)
                record = Day(
                    management_type=table.account.management_type,
                    dedicated=[ip.address for ip in table.ips if ip.pool_type == types_pb2.POOL_TYPE_DEDICATED],
                    statuses={
                        ip.address: ip.status for ip in table.ips if ip.pool_type == types_pb2.POOL_TYPE_DEDICATED
                    },
                    planned_share=table.account.dedicated_share_percent / 100,
                    observed_share=sum(n for (ip, _p), n in observed.items() if ip not in GENERAL_IPS) / SAMPLE,
                    reason=table.account.reason,
                )
                timeline[account].append(record)
                # The day's volume, split over (IP, provider) as the router routed it.
                by_provider = Counter[str]()
                for (_ip, provider), n in observed.items():
                    by_provider[provider] += n
                for (ip, provider), n in observed.items():
                    count = int(volume(account, offset) * MIX[provider] * n / by_provider[provider])
                    imports.append((day, account, ip, provider, count))
                    if account == "spiky" and ip not in GENERAL_IPS and offset in SPIKE_DAYS:
                        outcomes.append(
                            types_pb2.Outcome(
                                account_id=account,
                                ip=ip,
                                mailbox_provider=provider,
                                day=str(day),
                                delivered=count - count * 7 // 100,
                                bounced=count * 7 // 100,
                            )
                        )
            _import_history(db_url, imports)
            if outcomes:
                router.ReportOutcomes(router_pb2.ReportOutcomesRequest(outcomes=outcomes), metadata=metadata)
            for address, state in _ip_states(db_url):
                ip_states[address].add(state)

    general, transition, dedicated = (
        types_pb2.MANAGEMENT_TYPE_GENERAL,
        types_pb2.MANAGEMENT_TYPE_TRANSITION,
        types_pb2.MANAGEMENT_TYPE_DEDICATED,
    )
    grower, decliner, spiky, small = (timeline[a] for a in accounts)
    for account in accounts:  # the story, in the test log
        print(account, "".join("GTD"[d.management_type - 1] for d in timeline[account]))
        print(account, " ".join(f"{d.planned_share:.2f}/{d.observed_share:.2f}" for d in timeline[account][:35]))

    # The routed share follows the plan, every day, for every account (binomial bound).
    for account, days in timeline.items():
        for offset, d in enumerate(days):
            assert abs(d.observed_share - d.planned_share) < 0.06, (account, offset, d)

    # The grower crosses the threshold at once and warms up until its limits cover its
    # demand (100k a day: 50k for google, inside stage 8's 60,000): v2's rule 4. (Under the
    # v1 rules it took the whole schedule: 29-32 days.)
    assert grower[0].management_type == transition and len(grower[0].dedicated) == 1
    became_dedicated = _first(grower, lambda d: d.management_type == dedicated)
    assert 10 <= became_dedicated <= 14, [d.management_type for d in grower]
    assert "the dedicated limits cover the demand of" in grower[became_dedicated].reason
    shares = [d.planned_share for d in grower[:became_dedicated]]
    assert shares[0] < 0.05 and shares == sorted(shares), "the ramp only goes up"
    first_ip = grower[0].dedicated[0]
    assert grower[became_dedicated].statuses[first_ip] == types_pb2.IP_STATUS_ACTIVE
    # It grows past one IP (day 34) and gains a second, warming the same way.
    second = _first(grower, lambda d: len(d.dedicated) == 2)
    assert 34 < second <= 37
    new_ip = next(a for a in grower[second].dedicated if a != first_ip)
    assert all(d.management_type == dedicated for d in grower[second:])
    assert grower[second].statuses[new_ip] == types_pb2.IP_STATUS_IN_PROGRESS
    # v2: both IPs are Active once the pool's limits cover the 3M a day (v1: the new IP
    # was still In Progress at the end, 25 stages short of warm).
    assert grower[-1].statuses[new_ip] == types_pb2.IP_STATUS_ACTIVE
    assert grower[-1].statuses[first_ip] == types_pb2.IP_STATUS_ACTIVE

    # The bounce spike held the spiky account's ramp for the spike days.
    assert spiky[0].management_type == transition
    spiky_dedicated = _first(spiky, lambda d: d.management_type == dedicated)
    # v2: 30k a day is covered at stage 6 (20,000 for google's 15k); the 5 held days come on
    # top (v1: compared with the grower's 30-day schedule).
    assert spiky_dedicated >= 6 + len(SPIKE_DAYS) - 1, [d.management_type for d in spiky]
    assert any("holding warm-up" in d.reason for d in spiky[6:11]), [d.reason for d in spiky[6:11]]

    # The decliner is scaled in: back to General, its IP drained, quarantined, freed.
    assert decliner[0].management_type == transition
    back = _first(decliner, lambda d: d.management_type == general)
    assert back > 0 and all(d.management_type == general for d in decliner[back:])
    released = decliner[0].dedicated[0]
    assert {"dedicated", "draining", "quarantine", "inventory"} <= ip_states[released], ip_states[released]
    assert decliner[-1].dedicated == []

    # The small account never leaves the shared pool.
    assert all(d.management_type == general and d.observed_share == 0 for d in small)


def _rebalance(db_url: str, day: date) -> None:
    result = subprocess.run(
        [SENDINGIP, "worker", "--once", "--as-of", day.isoformat()],
        env=sendingip_env(db_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed=0" in result.stdout, result.stdout


def _import_history(db_url: str, rows: list[tuple[date, str, str, str, int]]) -> None:
    """(day, account, ip, provider, count) rows, set as ImportHistory sets them."""
    import asyncio

    import asyncpg

    from store import queries

    async def write() -> None:
        conn = await asyncpg.connect(db_url)
        try:
            await conn.execute(
                queries.load()["mgmt_import_history"], *(list(column) for column in zip(*rows, strict=True))
            )
        finally:
            await conn.close()

    asyncio.run(write())


def _entry_versions(db_url: str) -> dict[str, int]:
    rows = _psql(db_url, "SELECT key || '|' || version FROM routing_entries WHERE kind = 'account'")
    return {key: int(version) for key, version in (r.split("|") for r in rows)}


def _ip_states(db_url: str) -> list[tuple[str, str]]:
    rows = _psql(db_url, "SELECT host(address) || '|' || state FROM ip_addresses")
    return [tuple(r.split("|", 1)) for r in rows]  # type: ignore[misc]


def _psql(db_url: str, sql: str) -> list[str]:
    import asyncio

    import asyncpg

    async def fetch() -> list[str]:
        conn = await asyncpg.connect(db_url)
        try:
            return [str(r[0]) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def _wait_for_latest_version(
    router: router_pb2_grpc.RouterStub, metadata: tuple[tuple[str, str], ...], db_url: str
) -> int:
    """The router serves what the rebalance just committed (NOTIFY, else polling): each
    account's pick carries the version of the entry it was answered from."""
    deadline = datetime.now(UTC) + timedelta(seconds=15)
    for account, latest in _entry_versions(db_url).items():
        probe = pick_request("probe", account, retry=True)
        while (version := router.SelectSendingIP(probe, metadata=metadata).routing_version) < latest:
            assert datetime.now(UTC) < deadline, f"router serves {account} at version {version}, latest {latest}"
    return 0


def _observe(
    router: router_pb2_grpc.RouterStub, metadata: tuple[tuple[str, str], ...], account: str, day: date, version: int
) -> Counter[tuple[str, str]]:
    """Where the router sends SAMPLE messages of the account, split by MIX."""
    requests = []
    n = 0
    for provider, share in MIX.items():
        for _ in range(round(SAMPLE * share)):
            requests.append(pick_request(f"{day}-{n}", account, DOMAINS[provider], retry=True))
            n += 1
    seen = Counter[tuple[str, str]]()
    for response in _answers_with_leases(router, metadata, requests):
        assert response.routing_version >= version
        seen[(response.ip, response.mailbox_provider)] += 1
    return seen


def _answers_with_leases(
    router: router_pb2_grpc.RouterStub,
    metadata: tuple[tuple[str, str], ...],
    requests: list[router_pb2.SelectSendingIPRequest],
) -> list[router_pb2.SelectSendingIPResponse]:
    """The answers to ``requests`` (retries: uncounted), asked again until none overflows.

    A router leases a warming pair's allowance when a pick needs it and gives back what
    sat unused for a few seconds (budget leasing): these retries count nowhere, so between
    two simulated days it gives back, and until the next grant arrives (one round trip to
    PostgreSQL) the pair's picks overflow. The split observed is the one with the leases in
    place; an overflow that lasts 15 s fails the test."""
    deadline = datetime.now(UTC) + timedelta(seconds=15)
    while True:
        answers = [
            r
            for start in range(0, len(requests), 1000)
            for r in router.SelectSendingIPBatch(
                router_pb2.SelectSendingIPBatchRequest(requests=requests[start : start + 1000]), metadata=metadata
            ).responses
        ]
        overflowed = [r for r in answers if r.overflow]
        if not overflowed:
            return answers
        assert datetime.now(UTC) < deadline, f"{len(overflowed)} picks still overflow after 15 s: {overflowed[0]}"
        time.sleep(0.05)


def _first(days: list[Day], predicate: object) -> int:
    assert callable(predicate)
    for i, d in enumerate(days):
        if predicate(d):
            return i
    raise AssertionError("never happened")
