"""The HTTP/JSON door (SPEC §5) against a real router, real keys and real PostgreSQL.

Every endpoint is held to the gRPC answer for the same request (the JSON equals
``MessageToDict`` of the gRPC response), picks through HTTP are counted once, keys carry
the same permissions, and bad input of every kind gets a clear answer (and a closed
connection only where HTTP leaves no other choice) without disturbing anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message

from sendingip.v1 import management_pb2, router_pb2
from server.adapters import http_json
from server.adapters.http import MAX_HEAD_BYTES
from server.adapters.status import HTTP_STATUS, http_status
from server.auth.store import create_key
from tests.support.history import history
from tests.support.http_client import Client, Response, call, request, until
from tests.support.inprocess import InProcessServer, http_stack
from tests.support.requests import bearer, pick_fields
from tests.support.routing import DEDICATED_IPS, GENERAL_IPS, seed_acme, seed_region

pytestmark = pytest.mark.integration

ALL_IPS = set(GENERAL_IPS + DEDICATED_IPS)


@dataclass
class Keys:
    route: str
    view: str
    #: route and view, limited to the account "other"
    scoped: str
    admin: str


@pytest.fixture
async def keys(db: asyncpg.Connection) -> Keys:
    async def make(permissions: list[str], accounts: list[str] | None = None) -> str:
        new, _ = await create_key(db, permissions, accounts)
        return new.token

    return Keys(
        route=await make(["route"]),
        view=await make(["view"]),
        scoped=await make(["route", "view"], ["other"]),
        admin=await make(["route", "view", "admin"]),
    )


@pytest.fixture
async def stack(db: asyncpg.Connection, db_url: str, keys: Keys, tmp_path: Path) -> AsyncIterator[InProcessServer]:
    await seed_acme(db)
    async with http_stack(db_url, tmp_path) as s:
        yield s


def _dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _select(i: int, account: str = "acme", **extra: Any) -> dict[str, Any]:
    """Message ``i``'s JSON body (its id decides the pick)."""
    return pick_fields(f"<{i}@mta.example>", account, **extra)


async def _grpc_error(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value.code(), info.value.details() or ""


async def _history_is(db: asyncpg.Connection, expected: Counter[tuple[str, str, str]]) -> bool:
    return await history(db) == expected


def test_the_fast_path_has_the_fields_of_the_proto() -> None:
    """msgspec mirrors the messages by hand: a field added to the proto must be added there."""
    request = [f.name for f in router_pb2.SelectSendingIPRequest.DESCRIPTOR.fields]
    response = [f.name for f in router_pb2.SelectSendingIPResponse.DESCRIPTOR.fields]
    assert list(http_json.SelectBody.__struct_fields__) == request
    assert list(http_json.SelectJSON.__struct_fields__) == response
    batch = [f.name for f in router_pb2.SelectSendingIPBatchRequest.DESCRIPTOR.fields]
    assert list(http_json.SelectBatchBody.__struct_fields__) == batch


def test_every_grpc_code_has_its_http_status() -> None:
    assert set(HTTP_STATUS) == set(grpc.StatusCode)
    spec = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403}
    spec |= {"NOT_FOUND": 404, "UNAVAILABLE": 503, "INTERNAL": 500, "DEADLINE_EXCEEDED": 504, "ALREADY_EXISTS": 409}
    assert {name: http_status(grpc.StatusCode[name]) for name in spec} == spec


# -- the endpoints, held to gRPC -------------------------------------------------------------


async def test_picks_through_http_answer_as_grpc_and_are_counted_once(
    db: asyncpg.Connection, stack: InProcessServer, keys: Keys
) -> None:
    client = await Client.open(stack.port)
    answers = []
    for i in range(30):
        response = await client.call(request("POST", "/v1/select", _select(i), key=keys.route))
        assert response.status == 200, response.body
        assert response.headers["content-type"] == "application/json"
        answers.append(response.json())
        # The same request by gRPC (as a retry, so that only the HTTP pick counts).
        same = await stack.stub.SelectSendingIP(
            router_pb2.SelectSendingIPRequest(**_select(i), retry=True), metadata=bearer(keys.route)
        )
        assert answers[-1] == _dict(same)
    assert {a["ip"] for a in answers} == ALL_IPS
    assert {a["pool_type"] for a in answers} == {"POOL_TYPE_GENERAL", "POOL_TYPE_DEDICATED"}
    assert answers[0]["routing_version"].isdigit()  # int64 as a string, as proto3 JSON has it

    batch = [_select(i, mailbox_provider="yahoo") for i in range(30, 40)]
    response = await client.call(request("POST", "/v1/select/batch", {"requests": batch}, key=keys.route))
    assert response.status == 200, response.body
    again = await stack.stub.SelectSendingIPBatch(
        router_pb2.SelectSendingIPBatchRequest(
            requests=[router_pb2.SelectSendingIPRequest(**r, retry=True) for r in batch]
        ),
        metadata=bearer(keys.route),
    )
    assert response.json() == _dict(again) and len(response.json()["responses"]) == 10

    # An account the router does not know yet, in the region the request names.
    newcomer = _select(1, account="newcomer", region="us-east")
    response = await client.call(request("POST", "/v1/select", newcomer, key=keys.route))
    same = await stack.stub.SelectSendingIP(
        router_pb2.SelectSendingIPRequest(**newcomer, retry=True), metadata=bearer(keys.route)
    )
    assert response.json() == _dict(same) and response.json()["management_type"] == "MANAGEMENT_TYPE_GENERAL"

    # proto3 JSON also allows the lowerCamelCase names and null for a default.
    camel = {"accountId": "acme", "messageId": "<0@mta.example>", "recipientDomain": "gmail.com", "retry": True}
    response = await client.call(request("POST", "/v1/select", {**camel, "region": None}, key=keys.route))
    assert response.status == 200 and response.json() == answers[0]

    expected = Counter(("acme", a["ip"], "google") for a in answers)
    expected.update(("acme", r.ip, "yahoo") for r in again.responses)
    expected[("newcomer", same.ip, "google")] += 1
    await until(lambda: _history_is(db, expected))
    await asyncio.sleep(0.3)  # several flushes later: nothing counted twice
    assert await history(db) == expected
    await client.close()


async def test_outcomes_through_http_land_in_daily_outcomes_as_through_grpc(
    db: asyncpg.Connection, stack: InProcessServer, keys: Keys
) -> None:
    outcome = {"account_id": "acme", "ip": "192.0.2.1", "mailbox_provider": "google", "day": "2025-03-01"}
    body = {"outcomes": [{**outcome, "delivered": 5, "bounced": 1}, {**outcome, "delivered": "2", "complained": 1}]}
    response = await call(stack.port, request("POST", "/v1/outcomes", body, key=keys.route))
    assert response.status == 200, response.body
    same = await stack.stub.ReportOutcomes(
        json_format.ParseDict(body, router_pb2.ReportOutcomesRequest()), metadata=bearer(keys.route)
    )
    assert response.json() == _dict(same) == {"accepted": "2"}
    row = await db.fetchrow("SELECT delivered, deferred, bounced, complained FROM daily_outcomes")
    assert tuple(row) == (14, 0, 2, 2)  # each report applied once: HTTP's and gRPC's

    bad = {"outcomes": [{**outcome, "day": "2025-02-30"}]}
    response = await call(stack.port, request("POST", "/v1/outcomes", bad, key=keys.route))
    code, details = await _grpc_error(
        stack.stub.ReportOutcomes(
            json_format.ParseDict(bad, router_pb2.ReportOutcomesRequest()), metadata=bearer(keys.route)
        )
    )
    assert (response.status, response.json()) == (400, {"code": code.name, "message": details})
    assert "outcomes[0].day" in details


async def test_account_reads_through_http_answer_as_grpc(stack: InProcessServer, keys: Keys) -> None:
    for account in ("acme", "newco"):
        await stack.admin.CreateAccount(
            management_pb2.CreateAccountRequest(account_id=account, region="us-east"), metadata=bearer(keys.admin)
        )
    for account in ("acme", "newco"):
        got = await call(stack.port, request("GET", f"/v1/accounts/{account}", key=keys.view))
        same = await stack.admin.GetAccount(
            management_pb2.GetAccountRequest(account_id=account), metadata=bearer(keys.view)
        )
        assert (got.status, got.json()) == (200, _dict(same))
        assert got.json()["account_id"] == account and "volume_30d" in got.json()  # defaults included

        got = await call(stack.port, request("GET", f"/v1/accounts/{account}/sending-ips", key=keys.view))
        listed = await stack.admin.ListSendingIPs(
            management_pb2.ListSendingIPsRequest(account_id=account), metadata=bearer(keys.view)
        )
        assert (got.status, got.json()) == (200, _dict(listed))
        assert {ip["address"] for ip in got.json()["ips"]} == {ip.address for ip in listed.ips} != set()

    # Percent-encoded ids and a query string are read as the path says.
    got = await call(stack.port, request("GET", "/v1/accounts/ac%6De?fields=all", key=keys.view))
    assert got.status == 200 and got.json()["account_id"] == "acme"

    got = await call(stack.port, request("GET", "/v1/accounts/nobody", key=keys.view))
    code, details = await _grpc_error(
        stack.admin.GetAccount(management_pb2.GetAccountRequest(account_id="nobody"), metadata=bearer(keys.view))
    )
    assert (got.status, got.json()) == (404, {"code": "NOT_FOUND", "message": details}) and code.name == "NOT_FOUND"


# -- access: the same keys, the same permissions ---------------------------------------------


async def test_keys_carry_the_same_permissions_as_over_grpc(stack: InProcessServer, keys: Keys) -> None:
    select = router_pb2.SelectSendingIPRequest(**_select(1))
    outcomes = {"outcomes": [{"account_id": "acme", "mailbox_provider": "google", "day": "2025-03-01"}]}
    cases: list[tuple[bytes, Any, int, str]] = [
        (request("POST", "/v1/select", _select(1)), stack.stub.SelectSendingIP(select), 401, "UNAUTHENTICATED"),
        (
            request("POST", "/v1/select", _select(1), key="sip_nosuchkey1_secret"),
            stack.stub.SelectSendingIP(select, metadata=bearer("sip_nosuchkey1_secret")),
            401,
            "UNAUTHENTICATED",
        ),
        (
            request("POST", "/v1/select", _select(1), key=keys.view),
            stack.stub.SelectSendingIP(select, metadata=bearer(keys.view)),
            403,
            "PERMISSION_DENIED",
        ),
        (
            request("POST", "/v1/select", _select(1), key=keys.scoped),
            stack.stub.SelectSendingIP(select, metadata=bearer(keys.scoped)),
            403,
            "PERMISSION_DENIED",
        ),
        (
            request("POST", "/v1/select/batch", {"requests": [_select(1, "other"), _select(2)]}, key=keys.scoped),
            stack.stub.SelectSendingIPBatch(
                router_pb2.SelectSendingIPBatchRequest(
                    requests=[router_pb2.SelectSendingIPRequest(**_select(1, "other")), select]
                ),
                metadata=bearer(keys.scoped),
            ),
            403,
            "PERMISSION_DENIED",
        ),
        (
            request("POST", "/v1/outcomes", outcomes, key=keys.view),
            stack.stub.ReportOutcomes(
                json_format.ParseDict(outcomes, router_pb2.ReportOutcomesRequest()), metadata=bearer(keys.view)
            ),
            403,
            "PERMISSION_DENIED",
        ),
        (
            request("GET", "/v1/accounts/acme", key=keys.route),
            stack.admin.GetAccount(management_pb2.GetAccountRequest(account_id="acme"), metadata=bearer(keys.route)),
            403,
            "PERMISSION_DENIED",
        ),
        (
            request("GET", "/v1/accounts/acme/sending-ips", key=keys.scoped),
            stack.admin.ListSendingIPs(
                management_pb2.ListSendingIPsRequest(account_id="acme"), metadata=bearer(keys.scoped)
            ),
            403,
            "PERMISSION_DENIED",
        ),
        (
            request("GET", "/v1/accounts/acme", headers={"Authorization": "Basic dXNlcjpwYXNz"}),
            stack.admin.GetAccount(
                management_pb2.GetAccountRequest(account_id="acme"),
                metadata=(("authorization", "Basic dXNlcjpwYXNz"),),
            ),
            401,
            "UNAUTHENTICATED",
        ),
    ]
    for data, grpc_call, status, code in cases:
        got = await call(stack.port, data)
        grpc_code, details = await _grpc_error(grpc_call)
        assert (got.status, got.json()) == (status, {"code": code, "message": details}), data[:80]
        assert grpc_code.name == code
    # Keys that change from one request to the next on one connection.
    client = await Client.open(stack.port)
    for key, status in ((keys.route, 200), (keys.view, 403), (keys.route, 200), (None, 401), (keys.scoped, 403)):
        got = await client.call(request("POST", "/v1/select", _select(1, retry=True), key=key))
        assert got.status == status, (key, got.body)
    await client.close()
    # The scoped key may do what it is scoped to.
    got = await call(stack.port, request("POST", "/v1/select", _select(1, "other"), key=keys.scoped))
    assert got.status == 200 and got.json()["ip"] in GENERAL_IPS
    got = await call(stack.port, request("GET", "/healthz"))  # health needs no key
    assert (got.status, got.json()) == (200, {"status": "SERVING"})
    # An outcomes body is parsed only for a caller with a key: without one, not a parse error.
    for key, status in ((None, 401), ("sip_nosuchkey1_secret", 401), (keys.view, 403)):
        got = await call(stack.port, request("POST", "/v1/outcomes", b'{"outcomes": [', key=key))
        assert got.status == status, (key, got.body)


async def test_unavailable_and_unhealthy_until_a_routing_table_is_loaded(
    db: asyncpg.Connection, db_url: str, tmp_path: Path
) -> None:
    async with http_stack(
        "postgresql://nobody@127.0.0.1:9/none", tmp_path / "nothing", keys=False, wait_ready=False
    ) as down:
        got = await call(down.port, request("GET", "/healthz"))
        assert (got.status, got.json()) == (503, {"status": "NOT_SERVING"})
        for path, body in (("/v1/select", _select(1)), ("/v1/select/batch", {"requests": [_select(1)]})):
            got = await call(down.port, request("POST", path, body))
            code, details = await _grpc_error(
                down.stub.SelectSendingIP(router_pb2.SelectSendingIPRequest(**_select(1)))
            )
            assert (got.status, got.json()) == (503, {"code": "UNAVAILABLE", "message": details})
            assert "routing table" in details and code == grpc.StatusCode.UNAVAILABLE
        # No Management in this process: the account paths do not exist here.
        assert (await call(down.port, request("GET", "/v1/accounts/acme"))).status == 404

    await seed_region(db)
    async with http_stack(db_url, tmp_path / "up", keys=False) as up:
        got = await call(up.port, request("GET", "/healthz"))
        assert (got.status, got.json()) == (200, {"status": "SERVING"})


# -- bad input -----------------------------------------------------------------------------

MAX_BODY = 64 * 1024


@pytest.fixture
async def bounded(db: asyncpg.Connection, db_url: str, tmp_path: Path) -> AsyncIterator[InProcessServer]:
    """A router whose door takes bodies up to 64 KiB and requests that arrive within 1 s."""
    await seed_acme(db)
    async with http_stack(
        db_url, tmp_path, keys=False, adapters={"max_body_bytes": MAX_BODY, "request_timeout": 1.0}
    ) as s:
        yield s


def _post(path: str, body: bytes, **headers: str) -> bytes:
    return request("POST", path, body, headers=headers)


async def _refused(client: Client, data: bytes, status: int, *needles: str) -> Response:
    response = await client.call(data)
    assert response.status == status, response.body
    answer = response.json()
    assert set(answer) == {"code", "message"}, answer
    for needle in needles:
        assert needle in answer["message"], answer
    return response


async def test_bad_bodies_are_refused_naming_the_field_and_the_connection_goes_on(
    bounded: InProcessServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    client = await Client.open(bounded.port)
    cases: list[tuple[str, bytes, str]] = [
        ("/v1/select", b'{"account_id": "acme", "message_id": "\xff\xfe"}', "UTF-8"),
        ("/v1/select", b'{"account_id": "acme", "message_id": ', "not valid JSON"),
        ("/v1/select", b"", "body: empty"),
        ("/v1/select", b"[1, 2]", "body: expected `object`, got `array`"),
        ("/v1/select", b'{"account_id": "acme", "colour": "red"}', "colour: unknown field"),
        ("/v1/select", b'{"account_id": 5, "message_id": "m"}', "account_id: expected `str`, got `int`"),
        ("/v1/select", b'{"account_id": "acme", "retry": "yes"}', "retry: expected `bool`, got `str`"),
        (
            "/v1/select",
            b'{"account_id": "bad id", "message_id": "m", "recipient_domain": "x.org"}',
            "account_id: must be",
        ),
        ("/v1/select", b'{"account_id": "acme", "message_id": "m"}', "recipient_domain: required"),
        (
            "/v1/select/batch",
            b'{"requests": [{"account_id": "acme"}, {"account_id": []}]}',
            "requests[1].account_id: expected",
        ),
        ("/v1/select/batch", b'{"requests": [{"account_id": "acme", "x": 1}]}', "requests[0].x: unknown field"),
        ("/v1/select/batch", b'{"requests": {}}', "requests: expected `array`"),
        (
            "/v1/select/batch",
            json.dumps({"requests": [_select(i) for i in range(11)]}).encode(),
            "requests: 11 items; at most 10",
        ),
        ("/v1/outcomes", b'{"outcomes": [{"account_id": "acme", "colour": 1}]}', 'no field named "colour"'),
        ("/v1/outcomes", b'{"outcomes": [{"account_id": "acme", "delivered": "many"}]}', "delivered"),
        ("/v1/outcomes", b'{"outcomes": [{"account_id": "\xff"}]}', "UTF-8"),
        ("/v1/outcomes", b"[" * 50_000, "body:"),
        (
            "/v1/outcomes",
            b'{"outcomes": [{"account_id": "acme", "mailbox_provider": "google", "day": "2025-01-01", "delivered": -1}]}',
            "outcomes[0].delivered: must not be negative",
        ),
    ]
    for path, body, needle in cases:
        response = await _refused(client, _post(path, body), 400, needle)
        assert response.json()["code"] == "INVALID_ARGUMENT"
    # Every one of them left the connection usable.
    assert (await client.call(request("POST", "/v1/select", _select(1)))).status == 200

    # Paths and methods.
    await _refused(client, request("GET", "/v1/nothing-here"), 404, "no such path: /v1/nothing-here")
    response = await _refused(client, request("GET", "/v1/select"), 405, "use POST")
    assert response.headers["allow"] == "POST" and response.json()["code"] == "UNIMPLEMENTED"
    response = await _refused(client, request("DELETE", "/healthz"), 405, "use GET")
    assert response.headers["allow"] == "GET"
    await _refused(client, request("GET", "/v1/accounts/acme/secrets"), 404, "no such path")
    assert (await client.call(request("GET", "/healthz"))).status == 200
    await client.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "Traceback" not in caplog.text


async def test_oversized_requests_are_refused_without_being_read(bounded: InProcessServer) -> None:
    # A Content-Length over the bound: 413 at once, though not one byte of the body was sent.
    client = await Client.open(bounded.port)
    await client.send(b"POST /v1/select HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n")
    response = await client.read(timeout=5)
    assert response is not None and response.status == 413, response
    assert response.json()["code"] == "RESOURCE_EXHAUSTED" and str(MAX_BODY) in response.json()["message"]
    assert response.headers["connection"] == "close"
    assert await client.closed()

    # A client that sends its body without waiting still reads the answer: the door drains
    # what follows for a while instead of closing on unread bytes (which would reset the
    # connection under the client's feet, answer and all).
    client = await Client.open(bounded.port)
    await client.send(b"POST /v1/select HTTP/1.1\r\nContent-Length: 1000000000\r\n\r\n" + b" " * 4 * 1024 * 1024)
    response = await client.read(timeout=5)
    assert response is not None and response.status == 413, response
    assert await client.closed()

    # Chunked, so that no length says it in advance: 413 once the chunks pass the bound.
    client = await Client.open(bounded.port)
    await client.send(b"POST /v1/outcomes HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (16 * 1024, b" " * 16 * 1024)
    sent, response = 0, None
    with contextlib.suppress(ConnectionError):
        while sent < 10 * MAX_BODY and response is None:
            await client.send(chunk)
            sent += 16 * 1024
            with contextlib.suppress(TimeoutError):
                response = await client.read(timeout=0.05)
    response = response or await client.read()
    assert response is not None and response.status == 413 and sent <= 2 * MAX_BODY
    assert await client.closed()

    # A head over 16 KiB, in one piece and dribbled in pieces.
    big = request("GET", "/healthz", headers={"X-Filler": "a" * MAX_HEAD_BYTES})
    client = await Client.open(bounded.port)
    response = await client.call(big)
    assert response.status == 431 and str(MAX_HEAD_BYTES) in response.json()["message"]
    assert await client.closed()
    client = await Client.open(bounded.port)
    await client.send(b"GET /healthz HTTP/1.1\r\nX-Filler: ")
    sent, response = 0, None
    with contextlib.suppress(ConnectionError):
        while sent < 10 * MAX_HEAD_BYTES and response is None:
            await client.send(b"a" * 1024)
            sent += 1024
            with contextlib.suppress(TimeoutError):
                response = await client.read(timeout=0.02)
    response = response or await client.read()
    assert response is not None and response.status == 431 and sent <= 3 * MAX_HEAD_BYTES
    assert await client.closed()

    # The bound is the body's, not the request's: a body just under it is answered.
    filler = " " * (MAX_BODY - 200)
    body = json.dumps(_select(1)).encode()[:-1] + filler.encode() + b"}"
    assert len(body) <= MAX_BODY
    assert (await call(bounded.port, _post("/v1/select", body))).status == 200


async def test_garbage_gets_400_and_a_closed_connection(bounded: InProcessServer) -> None:
    for garbage in (
        b"\x00\x01\x02\xff\r\n\r\n",
        b"HELLO\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\n\r\n",
        b"POST /v1/select HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"POST /v1/select HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ):
        client = await Client.open(bounded.port)
        response = await _refused(client, garbage, 400, "malformed HTTP request")
        assert response.headers["connection"] == "close"
        assert await client.closed(), garbage
    # A body that never arrives whole: the slow-sender bound (1 s here) answers it.
    client = await Client.open(bounded.port)
    await client.send(b"POST /v1/select HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
    late = await client.read(timeout=5)
    assert late is not None and late.status == 408
    assert late.json()["code"] == "DEADLINE_EXCEEDED" and "to arrive" in late.json()["message"]
    assert await client.closed()


async def test_pipelined_requests_are_answered_in_order(bounded: InProcessServer) -> None:
    outcomes = {"outcomes": [{"account_id": "acme", "mailbox_provider": "google", "day": "2025-03-01"}]}
    requests = [
        request("POST", "/v1/select", _select(1)),
        request("POST", "/v1/outcomes", outcomes),  # awaits PostgreSQL: the next ones wait for it
        request("POST", "/v1/select", _select(2)),
        request("GET", "/healthz"),
        request("POST", "/v1/select", b'{"account_id": 1}'),
        request("POST", "/v1/outcomes", outcomes),
        request("GET", "/nowhere"),
        request("POST", "/v1/select", _select(3)),
    ]
    singles = [await call(bounded.port, request("POST", "/v1/select", _select(i, retry=True))) for i in (1, 2, 3)]
    client = await Client.open(bounded.port)
    await client.send(b"".join(requests))
    answers = [await client.read() for _ in requests]
    assert [a.status if a else None for a in answers] == [200, 200, 200, 200, 400, 200, 404, 200]
    assert [answers[i].json() for i in (0, 2, 7)] == [s.json() for s in singles]  # type: ignore[union-attr]
    assert answers[1].json() == answers[5].json() == {"accepted": "1"}  # type: ignore[union-attr]
    # The connection goes on, and a last request with "Connection: close" ends it.
    assert (await client.call(request("GET", "/healthz", headers={"Connection": "close"}))).status == 200
    assert await client.closed()


async def test_half_closed_clients_and_http_1_0_get_their_answers(bounded: InProcessServer) -> None:
    outcomes = {"outcomes": [{"account_id": "acme", "mailbox_provider": "google", "day": "2025-03-01"}]}
    for data, count in (
        (request("POST", "/v1/select", _select(1)), 1),
        (request("POST", "/v1/outcomes", outcomes) + request("POST", "/v1/select", _select(2)), 2),
    ):
        client = await Client.open(bounded.port)
        await client.send(data)
        client.writer.write_eof()  # the client is done sending, and waits for its answers
        statuses = []
        while (response := await client.read()) is not None:
            statuses.append(response.status)
        assert statuses == [200] * count  # every request answered, then the end of the stream
        await client.close()

    # HTTP/1.0: closed after the answer unless the client asks to keep it.
    client = await Client.open(bounded.port)
    response = await client.call(request("GET", "/healthz", version="1.0"))
    assert response.status == 200 and response.headers["connection"] == "close"
    assert await client.closed()
    client = await Client.open(bounded.port)
    keep = request("GET", "/healthz", version="1.0", headers={"Connection": "keep-alive"})
    response = await client.call(keep)
    assert response.status == 200 and response.headers["connection"] == "keep-alive"
    assert (await client.call(keep)).status == 200
    await client.close()

    # Expect: 100-continue (curl sends it for bodies over 1 KiB) gets its interim answer.
    client = await Client.open(bounded.port)
    body = json.dumps(_select(1)).encode()
    await client.send(
        b"POST /v1/select HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    assert await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert (await client.call(body)).status == 200
    await client.close()


async def test_after_all_that_the_door_answers_everyone_else(bounded: InProcessServer) -> None:
    """Abuse on some connections (a flood of half-sent requests, resets) leaves others unaffected."""
    idle = [await Client.open(bounded.port) for _ in range(50)]
    for i, client in enumerate(idle):
        await client.send(request("POST", "/v1/select", _select(i))[: 10 + i])
    for client in idle[:25]:
        client.writer.transport.abort()  # reset mid-request
    raw = socket.create_connection(("127.0.0.1", bounded.port))
    raw.sendall(request("POST", "/v1/select", _select(1)))
    raw.close()  # gone before the answer
    answers = await asyncio.gather(*(call(bounded.port, request("POST", "/v1/select", _select(i))) for i in range(20)))
    assert all(a.status == 200 and a.json()["ip"] in ALL_IPS for a in answers)
    for client in idle[25:]:
        await client.close()


async def test_a_large_outcomes_body_does_not_stall_the_picks(stack: InProcessServer, keys: Keys) -> None:
    """json_format takes ~0.5 s for 4 MiB: parsed on the event loop, every pick would wait for it."""
    outcome = {"account_id": "acme", "ip": "192.0.2.1", "mailbox_provider": "google", "day": "2025-03-01"}
    body = json.dumps({"outcomes": [{**outcome, "delivered": i} for i in range(25_000)]}).encode()
    big = asyncio.create_task(call(stack.port, request("POST", "/v1/outcomes", body, key=keys.route)))
    client = await Client.open(stack.port)
    picks, slowest = 0, 0.0
    while not big.done():
        started = time.monotonic()
        assert (await client.call(request("POST", "/v1/select", _select(1, retry=True), key=keys.route))).status == 200
        slowest = max(slowest, time.monotonic() - started)
        picks += 1
    await client.close()
    refused = big.result()
    assert (refused.status, refused.json()["message"]) == (400, "outcomes: 25000 items; at most 10 per call")
    assert picks >= 5 and slowest < 0.25, (picks, slowest)
