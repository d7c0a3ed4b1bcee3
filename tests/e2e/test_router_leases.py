"""Three real router processes sharing one warming pair's daily limit by budget leasing
(issue 16): with 90 % / 9 % / 1 % of the picks they carry exactly the limit together; with
the busy one SIGKILLed mid-lease (and started again under its router_id) never more, and
at most one chunk less."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from sendingip.v1 import router_pb2_grpc
from store.database import connect
from tests.support.processes import ServerProcess, sendingip_env, serve_router
from tests.support.requests import bearer, pick_request
from tests.support.routing import DEDICATED_IPS, account_route, publish, seed_region

pytestmark = pytest.mark.e2e

LIMIT = 200
MAX_CHUNK = 10
IP = DEDICATED_IPS[0]
#: Short lease rounds and heartbeats, so that the test takes seconds.
SETTINGS = {
    "SENDINGIP_LEASE_INTERVAL": "0.1",
    "SENDINGIP_LEASE_MAX_CHUNK": str(MAX_CHUNK),
    "SENDINGIP_HEARTBEAT_INTERVAL": "0.5",
    "SENDINGIP_HISTORY_FLUSH_INTERVAL": "0.2",
}


class Router:
    """One router process and a channel to it; counts the picks it carried on the pair."""

    def __init__(self, server: ServerProcess, key: str) -> None:
        self.server = server
        self.channel = grpc.insecure_channel(server.target)
        self.stub = router_pb2_grpc.RouterStub(self.channel)  # type: ignore[no-untyped-call]
        self.metadata = bearer(key)
        self.carried = 0
        self.overflowed = 0

    def pick(self, i: int) -> None:
        answer = self.stub.SelectSendingIP(pick_request(f"<{i}@lease>", "acme"), metadata=self.metadata, timeout=5)
        if answer.ip == IP and not answer.overflow:
            self.carried += 1
        else:
            assert answer.overflow, answer
            self.overflowed += 1

    def close(self) -> None:
        self.channel.close()
        self.server.stop()


async def _seed(db_url: str) -> None:
    async with connect(db_url) as db:
        await seed_region(db)
        await publish(db, account_route("acme", share=1.0, limits=(LIMIT,), weights=(1.0,)))


def _start(db_url: str, data_dir: Path, router_id: str, key: str | None) -> tuple[ServerProcess, str]:
    env = {"SENDINGIP_ROUTER_ID": router_id, **SETTINGS}
    if key is None:
        return serve_router(db_url, data_dir / router_id, **env)
    server = ServerProcess(
        sendingip_env(db_url, SENDINGIP_DATA_DIR=str(data_dir / router_id), SENDINGIP_METRICS_LISTEN="0", **env),
        ["--no-workers"],
    )
    try:
        server.wait_serving()
    except BaseException:
        server.stop()
        raise
    return server, key


@contextmanager
def _routers(db_url: str, data_dir: Path, n: int) -> Iterator[list[Router]]:
    routers: list[Router] = []
    key: str | None = None
    try:
        for i in range(n):
            server, key = _start(db_url, data_dir, f"lease-{i}", key)
            routers.append(Router(server, key))
        yield routers
    finally:
        for r in routers:
            r.close()


def _send(routers: list[Router], shares: tuple[int, ...], first: int, rounds: int) -> int:
    """``rounds`` rounds of 100 picks, ``shares[j]`` of each to router j; the next message number."""
    i = first
    for _ in range(rounds):
        for router, share in zip(routers, shares, strict=True):
            for _ in range(share):
                router.pick(i)
                i += 1
    return i


def _until_settled(routers: list[Router], shares: tuple[int, ...], first: int, timeout: float = 30.0) -> int:
    """Picks until the routers' carried total has not moved for a second; the next message number."""
    deadline = time.monotonic() + timeout
    i, last, since = first, -1, time.monotonic()
    while time.monotonic() < deadline:
        i = _send(routers, shares, i, 1)
        total = sum(r.carried for r in routers)
        assert total <= LIMIT, [r.carried for r in routers]
        if total != last:
            last, since = total, time.monotonic()
        elif time.monotonic() - since > 1.0:
            return i
    raise AssertionError(f"still carrying after {timeout}s: {[r.carried for r in routers]}")


async def _books(db_url: str) -> tuple[int, dict[str, int]]:
    async with connect(db_url) as db:
        budget = await db.fetchval("SELECT leased FROM lease_budgets WHERE ip = $1 AND mailbox_provider = 'google'", IP)
        rows = await db.fetch(
            "SELECT router_id, leased FROM budget_leases WHERE ip = $1 AND mailbox_provider = 'google'", IP
        )
    return int(budget), {r["router_id"]: int(r["leased"]) for r in rows}


async def test_three_routers_with_90_9_1_percent_of_the_picks_carry_exactly_the_limit(
    db_url: str, tmp_path: Path
) -> None:
    await _seed(db_url)
    with _routers(db_url, tmp_path, 3) as routers:
        _until_settled(routers, (90, 9, 1), 0)
        carried = [r.carried for r in routers]
        assert sum(carried) == LIMIT, carried
        assert carried[0] > carried[1] > 0, carried  # the busy routers got what they needed
        budget, leases = await _books(db_url)
        assert budget == LIMIT and sum(leases.values()) == LIMIT, leases


async def test_a_router_sigkilled_mid_lease_takes_at_most_one_chunk_and_resumes_its_row(
    db_url: str, tmp_path: Path
) -> None:
    await _seed(db_url)
    with _routers(db_url, tmp_path, 3) as routers:
        busy = routers[0]
        i = _send(routers, (90, 9, 1), 0, 1)
        while sum(r.carried for r in routers) < LIMIT // 2:
            i = _send(routers, (90, 9, 1), i, 1)
        busy.server.signal(signal.SIGKILL)  # between two picks: every pick it made was answered
        assert busy.server.wait(30) == -signal.SIGKILL
        _, leases = await _books(db_url)
        unused = leases["lease-0"] - busy.carried
        assert 0 <= unused <= MAX_CHUNK, (leases, busy.carried)
        # The survivors take the rest; the dead router's unused part is written off.
        i = _until_settled(routers[1:], (90, 10), i)
        carried = sum(r.carried for r in routers)
        assert LIMIT - MAX_CHUNK <= carried <= LIMIT and carried == LIMIT - unused, [r.carried for r in routers]
        # Started again under its router_id it resumes its row: no fresh share of the limit.
        busy.channel.close()
        server, key = _start(db_url, tmp_path, "lease-0", busy.metadata[0][1].removeprefix("Bearer "))
        again = Router(server, key)
        routers.append(again)
        _until_settled(routers[1:], (50, 10, 40), i, timeout=10)
        assert again.carried == 0 and sum(r.carried for r in routers) == LIMIT - unused
        budget, after = await _books(db_url)
        assert budget == sum(after.values()) <= LIMIT and after["lease-0"] == leases["lease-0"]
