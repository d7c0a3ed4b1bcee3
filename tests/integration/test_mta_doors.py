"""The Postfix policy and line-protocol doors (SPEC §5) and `sendingip postfix master-cf`.

A router in process (real PostgreSQL, a real API key from ``api_keys``) with its doors
started by ``Doors.start``, as `sendingip serve` starts them; clients talk to them over
real sockets, byte for byte as Postfix and Exim do.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import logging
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path

import asyncpg
import pytest
from grpc_health.v1.health_pb2 import HealthCheckResponse

from server.adapters.lines import RecordConnection
from server.adapters.listener import ListenError
from server.auth.authorizer import KeyAuthorizer
from server.auth.cache import load_active_keys
from server.auth.store import create_key
from tests.support import http_client
from tests.support.connection import Connection
from tests.support.inprocess import QUICK, InProcessServer, Servers, server_config
from tests.support.processes import SENDINGIP, ServerProcess, health_status, sendingip_env, wait_for
from tests.support.processes import create_key as cli_create_key
from tests.support.routing import DEDICATED_IPS, GENERAL_IPS, account_route, publish, seed_acme, seed_region

pytestmark = pytest.mark.integration

ALL_IPS = set(GENERAL_IPS + DEDICATED_IPS)
SERVING = HealthCheckResponse.SERVING


Stack = InProcessServer
StartStack = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def start_stack(tmp_path: Path, db: asyncpg.Connection, db_url: str) -> AsyncIterator[StartStack]:
    """A router with real API keys (a new one, limited to ``accounts``, for the doors)."""
    servers = Servers()

    async def start(*, accounts: list[str] | None = None, run: bool = True, **adapters: object) -> Stack:
        new, _ = await create_key(db, ["route"], accounts)
        authorizer = KeyAuthorizer(await load_active_keys(db))
        name = f"r{len(servers.started)}"
        settings = {"http_listen": "", "postfix_listen": "127.0.0.1:0", "line_listen": "127.0.0.1:0"}
        config = server_config(
            db_url,
            tmp_path / name,
            {**QUICK, "router_id": name, "metrics_listen": "0"},
            {**settings, "adapter_key": new.token, **adapters},
        )
        return await servers.start(config, authorizer=authorizer, doors=True, run=run, key=new.token)

    try:
        yield start
    finally:
        await servers.stop()


class Client(Connection):
    """One TCP connection to a line or policy door."""

    limit = 1 << 20

    async def lines(self, n: int) -> list[str]:
        return [(await asyncio.wait_for(self.reader.readline(), 5)).decode() for _ in range(n)]

    async def ask(self, *lines: bytes) -> list[str]:
        """Sends the lines in one write; their answers, newline removed."""
        await self.send(b"".join(lines))
        return [a.removesuffix("\n") for a in await self.lines(len(lines))]

    async def policy(self, *requests: bytes) -> list[str]:
        """Sends the policy requests in one write; their answers."""
        await self.send(b"".join(requests))
        return await self.answers(len(requests))

    async def answers(self, n: int) -> list[str]:
        """The next ``n`` policy answers."""
        return [(await asyncio.wait_for(self.reader.readuntil(b"\n\n"), 5)).decode() for _ in range(n)]


@contextlib.asynccontextmanager
async def connected(port: int) -> AsyncIterator[Client]:
    client = await Client.open(port)
    try:
        yield client
    finally:
        await client.close()


def eom(**attrs: str | bytes | None) -> bytes:
    """An END-OF-MESSAGE policy request as Postfix 3.7 sends it; ``None`` drops an attribute."""
    base: dict[str, str | bytes | None] = {
        "request": "smtpd_access_policy",
        "protocol_state": "END-OF-MESSAGE",
        "protocol_name": "ESMTP",
        "client_address": "127.0.0.1",
        "client_name": "localhost",
        "reverse_client_name": "localhost",
        "helo_name": "app.example",
        "sender": "news@acme.example",
        "recipient": "someone@gmail.com",
        "recipient_count": "1",
        "queue_id": "4Bx1yZ2kQpz9",
        "instance": "1a2b.6612a1f3.8c1d0.0",
        "size": "1234",
        "sasl_method": "PLAIN",
        "sasl_username": "acme",
        "sasl_sender": "",
        "encryption_protocol": "",
        "policy_context": "",
        "server_address": "127.0.0.1",
        "server_port": "25",
        "compatibility_level": "3.6",
        "mail_version": "3.7.11",
    }
    base.update(attrs)
    out = b""
    for name, value in base.items():
        if value is not None:
            out += name.encode() + b"=" + (value if isinstance(value, bytes) else value.encode()) + b"\n"
    return out + b"\n"


def filtered(ip: str) -> str:
    return f"action=FILTER sendingip_{ip.replace('.', '_').replace(':', '_')}:\n\n"


DUNNO = "action=DUNNO\n\n"


async def history(db: asyncpg.Connection) -> collections.Counter[tuple[str, str, str]]:
    rows = await db.fetch("SELECT account_id, ip, mailbox_provider, counted FROM daily_history")
    return collections.Counter({(r["account_id"], r["ip"], r["mailbox_provider"]): r["counted"] for r in rows})


async def history_becomes(db: asyncpg.Connection, expected: collections.Counter[tuple[str, str, str]]) -> None:
    deadline = time.monotonic() + 10
    while (found := await history(db)) != expected:
        if time.monotonic() > deadline or found.total() > expected.total():
            assert found == expected
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # several more flushes: nothing is counted twice
    assert await history(db) == expected


# -- the doors agree with gRPC, and count each pick once ------------------------------------


async def test_every_door_agrees_with_grpc_and_counts_each_pick_once(
    db: asyncpg.Connection, start_stack: StartStack
) -> None:
    """The same request gets the same IP through gRPC, HTTP, the line door and the policy
    door; each is counted once, by the door that asked without ``retry``."""
    await seed_acme(db)
    stack = await start_stack(http_listen="127.0.0.1:0")
    counted: collections.Counter[tuple[str, str, str]] = collections.Counter()
    http = await http_client.Client.open(stack.port)
    key = stack.metadata[0][1].removeprefix("Bearer ")

    async def via_http(message: str, domain: str, *, retry: bool) -> str:
        body = {"account_id": "acme", "message_id": message, "recipient_domain": domain, "retry": retry}
        answer = await http.call(http_client.request("POST", "/v1/select", body, key=key))
        assert answer.status == 200, answer.body
        return str(answer.json()["ip"])

    try:
        async with connected(stack.postfix_port) as postfix, connected(stack.line_port) as line:
            for i in range(40):
                qid = f"4Bx{i:04d}Q"
                [through_postfix] = await postfix.policy(eom(queue_id=qid))
                [reselected] = await line.ask(f"RESELECT acme {qid} gmail.com\n".encode())
                via_grpc = await stack.grpc_ip("acme", qid)
                assert through_postfix == filtered(via_grpc)
                assert reselected == via_grpc == await via_http(qid, "gmail.com", retry=True)
                counted["acme", via_grpc, "google"] += 1
            for i in range(40):
                message = f"<{i}@mta.example>"
                [selected] = await line.ask(f"SELECT acme {message} yahoo.com\n".encode())
                assert selected == await stack.grpc_ip("acme", message, "yahoo.com")
                assert selected == await via_http(message, "yahoo.com", retry=True)
                counted["acme", selected, "yahoo"] += 1
            for i in range(40):
                message = f"<{i}@http.example>"
                selected = await via_http(message, "outlook.com", retry=False)
                assert selected == await stack.grpc_ip("acme", message, "outlook.com")
                [reselected] = await line.ask(f"RESELECT acme {message} outlook.com\n".encode())
                assert reselected == selected
                counted["acme", selected, "microsoft"] += 1
            # Several recipients: Postfix sends no recipient; the message goes as provider "other".
            [several] = await postfix.policy(eom(queue_id="4BxMANY", recipient=None, recipient_count="3"))
            assert several == filtered(await stack.grpc_ip("acme", "4BxMANY", "", mailbox_provider="other"))
            counted["acme", several.split("sendingip_")[1].split(":")[0].replace("_", "."), "other"] += 1
    finally:
        await http.close()
    # Both pools answered: the comparison covers general and dedicated picks.
    assert {ip for _, ip, _ in counted} & set(GENERAL_IPS) and {ip for _, ip, _ in counted} & set(DEDICATED_IPS)
    await history_becomes(db, counted)


async def test_the_account_comes_from_sender_or_its_domain_when_configured(
    db: asyncpg.Connection, start_stack: StartStack
) -> None:
    await seed_region(db)
    by_domain = await start_stack(postfix_account="sender_domain")
    by_sender = await start_stack(postfix_account="sender")
    request = eom(sender="News@Shop.Example", sasl_username=None, queue_id="Q1")
    async with connected(by_domain.postfix_port) as c:
        assert await c.policy(request) == [filtered(await by_domain.grpc_ip("shop.example", "Q1"))]
    async with connected(by_sender.postfix_port) as c:
        assert await c.policy(request) == [filtered(await by_sender.grpc_ip("News@Shop.Example", "Q1"))]
        # The null sender (a bounce) names no account: DUNNO, the message goes out as usual.
        assert await c.policy(eom(sender="", queue_id="Q2")) == [DUNNO]


async def test_other_protocol_states_are_dunno_and_pick_nothing(
    db: asyncpg.Connection, start_stack: StartStack
) -> None:
    await seed_region(db)
    stack = await start_stack()
    async with connected(stack.postfix_port) as c:
        states = ("CONNECT", "EHLO", "MAIL", "RCPT", "DATA", "VRFY", "ETRN")
        answers = await c.policy(*(eom(protocol_state=s) for s in states))
    assert answers == [DUNNO] * len(states)
    assert sum(stack.runtime.engine.picks) == 0


# -- pipelining and half-close ---------------------------------------------------------------


async def test_pipelined_lines_are_answered_in_order(db: asyncpg.Connection, start_stack: StartStack) -> None:
    await seed_region(db)
    await publish(db, account_route("acme"))
    stack = await start_stack()
    lines, expected = [], []
    for i in range(200):
        if i % 10 == 3:
            lines.append(b"SELECT acme\n")
            expected.append(
                "ERR INVALID_ARGUMENT SELECT takes 3 or 4 fields, got 1: "
                "<account_id> <message_id> <recipient_domain> [<region>]"
            )
        else:
            lines.append(f"RESELECT acme m{i} gmail.com\n".encode())
            expected.append(await stack.grpc_ip("acme", f"m{i}"))
    async with connected(stack.line_port) as c:
        answers = await c.ask(*lines)
    assert answers == expected
    assert answers[0] in ALL_IPS


async def test_pipelined_policy_requests_are_answered_in_order(db: asyncpg.Connection, start_stack: StartStack) -> None:
    await seed_region(db)
    await publish(db, account_route("acme"))
    stack = await start_stack()
    requests = [eom(queue_id=f"Q{i}") if i % 4 else eom(protocol_state="RCPT", queue_id=f"Q{i}") for i in range(40)]
    async with connected(stack.postfix_port) as c:
        answers = await c.policy(*requests)
    expected = [filtered(await stack.grpc_ip("acme", f"Q{i}")) if i % 4 else DUNNO for i in range(40)]
    assert answers == expected


async def test_a_flood_of_pipelined_lines_is_answered_whole_and_in_order(
    db: asyncpg.Connection, start_stack: StartStack
) -> None:
    """Megabytes of requests in flight both ways: reading pauses while answers wait, none is lost."""
    await seed_region(db)
    stack = await start_stack()
    n = 40_000
    payload = b"".join(f"RESELECT acme m{i % 50} gmail.com\n".encode() for i in range(n))
    expected = [await stack.grpc_ip("acme", f"m{i}") for i in range(50)]
    async with connected(stack.line_port) as c:
        sender = asyncio.create_task(c.send(payload))
        answers = await asyncio.wait_for(c.reader.readexactly(sum(len(expected[i % 50]) + 1 for i in range(n))), 30)
        await sender
    assert answers.decode().splitlines() == [expected[i % 50] for i in range(n)]


async def test_a_client_that_half_closes_gets_every_answer_then_eof(
    db: asyncpg.Connection, start_stack: StartStack
) -> None:
    """As Exim's ${readsocket} does: send the request, shutdown(SHUT_WR), read until EOF."""
    await seed_region(db)
    stack = await start_stack()
    ip = await stack.grpc_ip("acme", "m1")
    async with connected(stack.line_port) as c:
        await c.send(b"SELECT acme m1 gmail.com\n")
        c.writer.write_eof()
        assert await asyncio.wait_for(c.reader.read(), 5) == f"{ip}\n".encode()
    # A last line without its newline still counts as a line.
    async with connected(stack.line_port) as c:
        await c.send(b"RESELECT acme m1 gmail.com\nBOGUS\nRESELECT acme m1 gmail.com")
        c.writer.write_eof()
        answers = (await asyncio.wait_for(c.reader.read(), 5)).decode().splitlines()
    assert answers[0] == answers[2] == ip
    assert answers[1].startswith("ERR INVALID_ARGUMENT unknown command 'BOGUS'")
    # Exim with shutdown=no: the answer comes at once and the connection stays usable.
    async with connected(stack.line_port) as c:
        assert await c.ask(b"RESELECT acme m1 gmail.com\n") == [ip]
        await asyncio.sleep(0.2)
        assert await c.ask(b"RESELECT acme m1 gmail.com\n") == [ip]


async def test_requests_dribbled_a_few_bytes_at_a_time_are_answered(
    db: asyncpg.Connection, start_stack: StartStack
) -> None:
    """Every read boundary, the policy request's empty line split across two reads included."""
    await seed_region(db)
    stack = await start_stack()
    ip = await stack.grpc_ip("acme", "Q7")
    request = eom(queue_id="Q7")
    async with connected(stack.postfix_port) as c:
        for size in (1, 7, len(request) - 1):
            for start in range(0, len(request), size):
                await c.send(request[start : start + size])
                await asyncio.sleep(0.001)
            assert await c.answers(1) == [filtered(ip)]
        # Blank lines before a request are no request; the request after them is answered once.
        assert await c.policy(b"\n\n\n" + request) == [filtered(ip)]
    async with connected(stack.line_port) as c:
        for byte in b"RESELECT acme Q7 gmail.com\n":
            await c.send(bytes([byte]))
            await asyncio.sleep(0.001)
        assert await c.lines(1) == [f"{ip}\n"]
    # A last request without its empty line, then a half-close: answered, then EOF.
    async with connected(stack.postfix_port) as c:
        await c.send(request[:-1])
        c.writer.write_eof()
        assert await asyncio.wait_for(c.reader.read(), 5) == filtered(ip).encode()


# -- bad input: a protocol answer, and the connection keeps working -------------------------

BAD_LINES = [
    (b"FOO acme m1 gmail.com\n", "ERR INVALID_ARGUMENT unknown command 'FOO'"),
    (b"SELECT acme m1\n", "ERR INVALID_ARGUMENT SELECT takes 3 or 4 fields, got 2"),
    (b"SELECT acme m1 gmail.com us-east extra\n", "ERR INVALID_ARGUMENT SELECT takes 3 or 4 fields, got 5"),
    (b"SELECT ac\xffme m1 gmail.com\n", "ERR INVALID_ARGUMENT the line is not UTF-8"),
    (b"\n", "ERR INVALID_ARGUMENT empty line"),
    (b"SELECT acme/x m1 gmail.com\n", "ERR INVALID_ARGUMENT account_id: must be 1-128 characters"),
    (b"SELECT acme m1 gmail.com Not_A_Region\n", "ERR INVALID_ARGUMENT region: must be 1-63 characters"),
    (b"SELECT acme " + b"x" * 5000 + b" gmail.com\n", "ERR INVALID_ARGUMENT line longer than 4096 bytes"),
    (b"SELECT newacct m1 gmail.com eu-west\n", "ERR FAILED_PRECONDITION region 'eu-west' has no general pool IPs"),
]


async def test_bad_lines_get_err_and_the_connection_keeps_working(
    db: asyncpg.Connection, start_stack: StartStack
) -> None:
    await seed_region(db)
    stack = await start_stack()
    ip = await stack.grpc_ip("acme", "m9")
    async with connected(stack.line_port) as c:
        for bad, answer in BAD_LINES:
            got = await c.ask(bad, b"RESELECT acme m9 gmail.com\n")
            assert got[0].startswith(answer), (bad[:60], got)
            assert got[1] == ip
        # Lower case and CRLF are accepted; a new account in a region with a pool is routed.
        assert await c.ask(b"reselect acme m9 gmail.com\r\n") == [ip]
        [new] = await c.ask(b"SELECT newacct m1 gmail.com us-east\n")
        assert new in GENERAL_IPS


async def test_a_line_of_a_megabyte_is_dropped_as_it_arrives(db: asyncpg.Connection, start_stack: StartStack) -> None:
    await seed_region(db)
    stack = await start_stack()
    ip = await stack.grpc_ip("acme", "m1")
    async with connected(stack.line_port) as c:
        await c.send(b"SELECT acme m1 ")
        for _ in range(16):
            await c.send(b"y" * 65536)
        [first] = await c.lines(1)
        assert first.startswith("ERR INVALID_ARGUMENT line longer than 4096 bytes")
        assert stack.doors is not None
        [conn] = stack.doors.listeners["line"].connections
        assert isinstance(conn, RecordConnection)
        assert conn.pending and not conn._partial  # being dropped: nothing of it is kept
        await c.send(b"y" * 1000 + b"\nRESELECT acme m1 gmail.com\n")
        assert await c.lines(1) == [f"{ip}\n"]


async def test_a_line_that_never_ends_is_answered_and_closed_after_the_request_timeout(
    db: asyncpg.Connection, start_stack: StartStack
) -> None:
    await seed_region(db)
    stack = await start_stack(request_timeout=0.3)
    async with connected(stack.line_port) as c:
        await c.send(b"SELECT acme m1 gma")
        rest = await asyncio.wait_for(c.reader.read(), 5)
    assert rest.startswith(b"ERR DEADLINE_EXCEEDED a request took more than 0.3s to arrive")


BAD_POLICY_REQUESTS = [
    (eom(queue_id="Q1").replace(b"helo_name=", b"helo_name"), "a line without '='"),
    (eom(sasl_username=b"ac\xffme"), "not UTF-8"),
    (eom(sasl_username=None), "no account: the request has no sasl_username"),
    (eom(sasl_username=""), "no account"),
    (eom(sasl_username="acme/x"), "sasl_username (account_id): must be 1-128"),
    (eom(queue_id=None), "queue_id (message_id): required"),
    (eom(ccert_subject="x" * 70_000), "a request over 64 KiB"),
    (eom(**{f"x{i}": "y" * 1000 for i in range(70)}), "a request over 64 KiB"),
    (eom(**{f"x{i}": "y" for i in range(300)}), "a request of over 256 attributes"),
]


async def test_bad_policy_requests_get_dunno_a_log_line_and_the_connection_keeps_working(
    db: asyncpg.Connection, start_stack: StartStack, caplog: pytest.LogCaptureFixture
) -> None:
    await seed_region(db)
    stack = await start_stack()
    good = filtered(await stack.grpc_ip("acme", "GOOD"))
    caplog.set_level(logging.WARNING, "server.adapters.postfix")
    async with connected(stack.postfix_port) as c:
        for bad, why in BAD_POLICY_REQUESTS:
            caplog.clear()
            assert await c.policy(bad, eom(queue_id="GOOD")) == [DUNNO, good], why
            [record] = caplog.records
            assert record.getMessage().startswith("postfix door: answered DUNNO peer=127.0.0.1"), why
            assert why in record.getMessage()
        # Over 64 KiB, dropped as it comes, its empty line split across two reads.
        caplog.clear()
        await c.send(b"ccert_subject=" + b"z" * 100_000 + b"\n")
        await asyncio.sleep(0.05)
        await c.send(b"\n")
        assert await c.answers(1) == [DUNNO]  # answered as soon as it was too long
        assert await c.policy(eom(queue_id="GOOD")) == [good]
        [record] = caplog.records
        assert record.getMessage().endswith(": a request over 64 KiB")
        # A value the door does not use may be anything: the message is still routed.
        assert await c.policy(eom(queue_id="GOOD", client_name=b"\xff\xfe")) == [good]


async def test_a_flood_of_bad_policy_requests_logs_a_bounded_number_of_lines(
    db: asyncpg.Connection, start_stack: StartStack, caplog: pytest.LogCaptureFixture
) -> None:
    await seed_region(db)
    stack = await start_stack()
    caplog.set_level(logging.WARNING, "server.adapters.postfix")
    async with connected(stack.postfix_port) as c:
        assert await c.policy(*[eom(sasl_username=None)] * 500) == [DUNNO] * 500
    assert 1 <= len(caplog.records) <= 20


# -- refusals that are not the client's fault ------------------------------------------------


async def test_the_adapter_keys_scope_is_enforced(db: asyncpg.Connection, start_stack: StartStack) -> None:
    await seed_region(db)
    stack = await start_stack(accounts=["acme"])
    async with connected(stack.line_port) as line, connected(stack.postfix_port) as postfix:
        [denied] = await line.ask(b"SELECT beta m1 gmail.com\n")
        assert denied.startswith("ERR PERMISSION_DENIED API key ") and "may not access account 'beta'" in denied
        [deferred] = await postfix.policy(eom(sasl_username="beta"))
        assert deferred.startswith("action=DEFER_IF_PERMIT sendingip: PERMISSION_DENIED: API key ")
        assert (await line.ask(b"SELECT acme m1 gmail.com\n"))[0] in GENERAL_IPS
        assert (await postfix.policy(eom(sasl_username="acme")))[0].startswith("action=FILTER sendingip_192_0_2_")
        # The key revoked (what a reload of api_keys does): refused, and Postfix defers.
        assert isinstance(stack.authorizer, KeyAuthorizer)
        stack.authorizer.replace([])
        assert (await line.ask(b"SELECT acme m1 gmail.com\n")) == ["ERR UNAUTHENTICATED unknown or revoked API key"]
        assert await postfix.policy(eom()) == [
            "action=DEFER_IF_PERMIT sendingip: UNAUTHENTICATED: unknown or revoked API key\n\n"
        ]


async def test_no_routing_table_yet_is_unavailable_and_postfix_defers(start_stack: StartStack) -> None:
    stack = await start_stack(run=False)
    async with connected(stack.line_port) as line, connected(stack.postfix_port) as postfix:
        [answer] = await line.ask(b"SELECT acme m1 gmail.com\n")
        assert answer.startswith("ERR UNAVAILABLE the router has not loaded a routing table yet")
        [deferred] = await postfix.policy(eom())
        assert deferred.startswith("action=DEFER_IF_PERMIT sendingip: UNAVAILABLE: the router has not loaded")


async def test_a_region_without_a_general_pool_makes_postfix_defer(start_stack: StartStack) -> None:
    stack = await start_stack()  # an empty database: no region has IPs
    async with connected(stack.postfix_port) as postfix:
        [deferred] = await postfix.policy(eom())
    assert deferred.startswith("action=DEFER_IF_PERMIT sendingip: FAILED_PRECONDITION: region 'us-east' has no")


# -- where the doors may listen --------------------------------------------------------------


@pytest.mark.parametrize("door", ["line_listen", "postfix_listen"])
async def test_a_non_loopback_address_needs_an_allow_list(start_stack: StartStack, door: str) -> None:
    with pytest.raises(ListenError, match="SENDINGIP_ADAPTER_ALLOW"):
        await start_stack(**{door: "0.0.0.0:0"})
    stack = await start_stack(**{door: "0.0.0.0:0", "allow": (ipaddress.ip_network("10.0.0.0/8"),)})
    assert stack.door_port(door.removesuffix("_listen")) > 0


# -- the real process, configured by environment ---------------------------------------------


@pytest.mark.e2e
async def test_sendingip_serve_opens_both_doors_from_the_environment(db: asyncpg.Connection, db_url: str) -> None:
    await seed_region(db)
    key = await asyncio.to_thread(cli_create_key, db_url, "route")
    env = sendingip_env(
        db_url,
        SENDINGIP_HTTP_LISTEN="0",
        SENDINGIP_METRICS_LISTEN="0",
        SENDINGIP_POSTFIX_LISTEN="127.0.0.1:0",
        SENDINGIP_LINE_LISTEN="127.0.0.1:0",
        SENDINGIP_ADAPTER_KEY=key,
    )
    server = await asyncio.to_thread(ServerProcess, env, ["--no-workers"])
    try:
        line = await asyncio.to_thread(server.wait_line, r"line listen=127\.0\.0\.1:(\d+)")
        postfix = await asyncio.to_thread(server.wait_line, r"postfix listen=127\.0\.0\.1:(\d+)")
        await asyncio.to_thread(wait_for, lambda: health_status(server.target) == SERVING)
        line_port, postfix_port = int(line[1]), int(postfix[1])
        # The same framing under uvloop (what serve runs): pipelined, malformed, over-long, half-closed.
        async with connected(line_port) as c:
            [ip] = await c.ask(b"SELECT acme m1 gmail.com\n")
            assert ip in GENERAL_IPS
            answers = await c.ask(b"RESELECT acme m1 gmail.com\n", b"NOPE\n", b"x" * 70_000 + b"\n", b"\xff\n")
            assert answers[0] == ip and all(a.startswith("ERR INVALID_ARGUMENT ") for a in answers[1:])
            flood = b"RESELECT acme m1 gmail.com\n" * 20_000
            sender = asyncio.create_task(c.send(flood))
            assert (
                await asyncio.wait_for(c.reader.readexactly(20_000 * (len(ip) + 1)), 30) == f"{ip}\n".encode() * 20_000
            )
            await sender
            await c.send(b"RESELECT acme m1 gmail.com")
            c.writer.write_eof()
            assert await asyncio.wait_for(c.reader.read(), 5) == f"{ip}\n".encode()
        async with connected(postfix_port) as c:
            request = eom(queue_id="m1")
            assert await c.policy(request, eom(sasl_username=None), request) == [filtered(ip), DUNNO, filtered(ip)]
            await c.send(b"x=" + b"y" * 70_000 + b"\n\n")
            assert await c.answers(1) == [DUNNO]
            for start in range(0, len(request), 50):
                await c.send(request[start : start + 50])
                await asyncio.sleep(0.001)
            assert await c.answers(1) == [filtered(ip)]
    finally:
        await asyncio.to_thread(server.stop)


# -- sendingip postfix master-cf -------------------------------------------------------------


def master_cf(db_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [SENDINGIP, "postfix", "master-cf", *args],
        env=sendingip_env(db_url, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def transports(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


async def test_master_cf_prints_a_transport_for_every_ip(db: asyncpg.Connection, db_url: str) -> None:
    await seed_region(db)
    await db.execute("INSERT INTO regions (region) VALUES ('eu-west')")
    await db.executemany(
        "INSERT INTO ip_addresses (address, region, state) VALUES ($1::inet, 'eu-west', 'inventory')",
        [("2001:db8::a",), ("203.0.113.200",), ("2001:db8::1",)],
    )
    result = await asyncio.to_thread(master_cf, db_url, SENDINGIP_POSTFIX_LISTEN="127.0.0.1:10040")
    assert result.returncode == 0, result.stderr
    # Address order in a region, IPv4 first (text order would put 203.0.113.200 last).
    assert transports(result.stdout) == [
        "sendingip_203_0_113_200 unix - - n - - smtp -o smtp_bind_address=203.0.113.200"
        " -o syslog_name=postfix/sendingip_203_0_113_200",
        "sendingip_2001_db8__1 unix - - n - - smtp -o smtp_bind_address6=2001:db8::1"
        " -o syslog_name=postfix/sendingip_2001_db8__1",
        "sendingip_2001_db8__a unix - - n - - smtp -o smtp_bind_address6=2001:db8::a"
        " -o syslog_name=postfix/sendingip_2001_db8__a",
        *(
            f"sendingip_{ip.replace('.', '_')} unix - - n - - smtp -o smtp_bind_address={ip}"
            f" -o syslog_name=postfix/sendingip_{ip.replace('.', '_')}"
            for ip in GENERAL_IPS
        ),
    ]
    assert "#   smtpd_end_of_data_restrictions = check_policy_service inet:127.0.0.1:10040" in result.stdout
    assert "smtp_bind_address_enforce = yes" in result.stdout
    assert "default_filter_nexthop" in result.stdout

    only = await asyncio.to_thread(master_cf, db_url, "--region", "us-east")
    assert [t.split()[0] for t in transports(only.stdout)] == [
        f"sendingip_{ip.replace('.', '_')}" for ip in GENERAL_IPS
    ]


@pytest.mark.parametrize(
    ("args", "url", "message"),
    [
        ((), None, "error: no IPs in the database: add some with `sendingip ips add`"),
        (("--region", "nowhere"), None, "error: no IPs in region 'nowhere'"),
        (("--region", "Bad Region"), None, "error: --region: must be 1-63 characters"),
        ((), "postgresql://sendingip@127.0.0.1:1/nothing", "error: database: "),
    ],
)
async def test_master_cf_says_in_one_line_why_it_has_nothing_to_print(
    db_url: str, args: Iterable[str], url: str | None, message: str
) -> None:
    result = await asyncio.to_thread(master_cf, url or db_url, *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
