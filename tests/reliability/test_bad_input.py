"""Bad input at every RPC (issue 8, fault 5): fuzzed fields, oversized messages and
batches, bytes that are not protobuf, raw HTTP/2 garbage. Only the SPEC's status codes
come back — never UNKNOWN or INTERNAL, a crash, a hang or a stack trace — and the
server is healthy and as fast as before afterwards."""

from __future__ import annotations

import json
import socket
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import grpc
import h2.config
import h2.connection
import h2.events
import pytest
from google.protobuf import descriptor as _descriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendingip.v1 import management_pb2, router_pb2, router_pb2_grpc, types_pb2
from store.database import connect
from tests.support.processes import create_key, health_status, serve_router
from tests.support.requests import bearer, pick_request
from tests.support.routing import seed_acme

pytestmark = pytest.mark.e2e

#: SPEC §3's codes for a call that is refused. UNAVAILABLE is the SPEC's for "retry":
#: no table yet, PostgreSQL unreachable.
ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
ALLOWED_NUMBERS = {code.value[0] for code in ALLOWED}
SERVICES = [
    router_pb2.DESCRIPTOR.services_by_name["Router"],
    management_pb2.DESCRIPTOR.services_by_name["Management"],
]
METHODS = [m for s in SERVICES for m in s.methods]
MAX_MESSAGE_BYTES = 1 << 20


@pytest.fixture
async def served(db_url: str, tmp_path: Path) -> Any:
    async with connect(db_url) as db:
        await seed_acme(db)
    server, key = serve_router(db_url, tmp_path, SENDINGIP_MAX_MESSAGE_BYTES=str(MAX_MESSAGE_BYTES))
    try:
        yield server, key, create_key(db_url, "route", accounts="acme")
    finally:
        server.stop()
    assert "Traceback" not in server.output, server.output
    assert " ERROR " not in server.output, server.output


# -- strategies: any message of the API, built from its descriptor ---------------------

_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["acme", "us-east", "google", "2026-03-01", "192.0.2.1", "::1", "gmail.com", "*", ""]),
    st.text(alphabet="aZ09._:@-", min_size=120, max_size=140),
    st.text(min_size=990, max_size=1100),
)
_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    _descriptor.FieldDescriptor.TYPE_STRING: _TEXT,
    _descriptor.FieldDescriptor.TYPE_BYTES: st.binary(max_size=64),
    _descriptor.FieldDescriptor.TYPE_BOOL: st.booleans(),
    _descriptor.FieldDescriptor.TYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    _descriptor.FieldDescriptor.TYPE_UINT64: st.integers(0, 2**64 - 1),
    _descriptor.FieldDescriptor.TYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    _descriptor.FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
    _descriptor.FieldDescriptor.TYPE_DOUBLE: st.floats(allow_nan=True, allow_infinity=True),
    _descriptor.FieldDescriptor.TYPE_FLOAT: st.floats(width=32, allow_nan=True, allow_infinity=True),
    # Open enums: any int32, known or not.
    _descriptor.FieldDescriptor.TYPE_ENUM: st.one_of(st.integers(0, 4), st.integers(-(2**31), 2**31 - 1)),
}


@st.composite
def messages(draw: st.DrawFn, desc: _descriptor.Descriptor, depth: int = 0) -> Message:
    message = GetMessageClass(desc)()
    for field in desc.fields:
        if not draw(st.booleans()):
            continue
        if field.type == _descriptor.FieldDescriptor.TYPE_MESSAGE:
            if depth >= 2:
                continue
            assert field.message_type is not None  # set for every TYPE_MESSAGE field
            sub = messages(field.message_type, depth + 1)
            if field.is_repeated:
                getattr(message, field.name).extend(draw(st.lists(sub, max_size=4)))
            else:
                getattr(message, field.name).CopyFrom(draw(sub))
        elif field.is_repeated:
            getattr(message, field.name).extend(draw(st.lists(_SCALARS[field.type], max_size=5)))
        else:
            setattr(message, field.name, draw(_SCALARS[field.type]))
    return message


def _call(channel: grpc.Channel, method: _descriptor.MethodDescriptor, payload: Any, metadata: Any) -> grpc.StatusCode:
    path = f"/{method.containing_service.full_name}/{method.name}"
    serialize = (lambda m: m.SerializeToString()) if isinstance(payload, Message) else (lambda b: b)
    try:
        if method.client_streaming:
            call: Any = channel.stream_stream(path, request_serializer=serialize)
            for _ in call(iter([payload, payload]), timeout=10, metadata=metadata):
                pass
        else:
            channel.unary_unary(path, request_serializer=serialize)(payload, timeout=10, metadata=metadata)
    except grpc.RpcError as exc:
        details = exc.details() or ""
        assert "Traceback" not in details and 'File "' not in details and "Unexpected <class" not in details, details
        assert exc.code() in ALLOWED, (path, exc.code(), details, payload)
        return exc.code()
    return grpc.StatusCode.OK


def _latencies(target: str, key: str, n: int = 300) -> list[float]:
    request = pick_request("<m@x>")
    out = []
    with grpc.insecure_channel(target) as channel:
        stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
        stub.SelectSendingIP(request, timeout=5, metadata=bearer(key))
        for _ in range(n):
            t = time.perf_counter()
            stub.SelectSendingIP(request, timeout=5, metadata=bearer(key))
            out.append(time.perf_counter() - t)
    return out


def _fuzzer(
    channel: grpc.Channel, method: _descriptor.MethodDescriptor, keys: list[Any], seen: dict[str, set[grpc.StatusCode]]
) -> Any:
    """A bounded hypothesis run against one RPC: messages of its type, or raw bytes."""

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(payload=st.one_of(messages(method.input_type), st.binary(max_size=200)), metadata=st.sampled_from(keys))
    def fuzz(payload: Any, metadata: Any) -> None:
        seen.setdefault(method.name, set()).add(_call(channel, method, payload, metadata))

    return fuzz


def test_fuzzed_fields_at_every_rpc_get_only_the_specs_codes(served: Any) -> None:
    server, admin, scoped = served
    before = statistics.median(_latencies(server.target, admin))
    seen: dict[str, set[grpc.StatusCode]] = {}
    with grpc.insecure_channel(server.target) as channel:
        keys = [bearer(admin), bearer(scoped), bearer("sip_nosuchkey1_" + "x" * 40), (), bearer("")]
        for method in METHODS:
            _fuzzer(channel, method, keys, seen)()
    # Every RPC was reached past validation at least once, and refused at least once.
    assert set(seen) == {m.name for m in METHODS}
    assert all(grpc.StatusCode.INVALID_ARGUMENT in codes for codes in seen.values()), seen
    assert health_status(server.target) == health_pb2.HealthCheckResponse.SERVING
    after = statistics.median(_latencies(server.target, admin))
    assert after < 2 * before + 0.002, (before, after)


def test_oversized_messages_and_batches(served: Any) -> None:
    server, admin, _ = served
    md = bearer(admin)
    with grpc.insecure_channel(server.target) as channel:
        stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
        huge = router_pb2.SelectSendingIPRequest(account_id="acme", message_id="x" * (MAX_MESSAGE_BYTES + 10))
        with pytest.raises(grpc.RpcError) as err:
            stub.SelectSendingIP(huge, timeout=10, metadata=md)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        one = pick_request("<1@x>")
        with pytest.raises(grpc.RpcError) as err:
            stub.SelectSendingIPBatch(
                router_pb2.SelectSendingIPBatchRequest(requests=[one] * 1001), timeout=10, metadata=md
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "at most 1000" in (err.value.details() or "")
        outcome = types_pb2.Outcome(account_id="acme", day="2026-03-01", mailbox_provider="google", delivered=1)
        with pytest.raises(grpc.RpcError) as err:
            stub.ReportOutcomes(router_pb2.ReportOutcomesRequest(outcomes=[outcome] * 1001), timeout=10, metadata=md)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # Counts whose sums would overflow PostgreSQL's bigint: bad input, not "retry".
        big = types_pb2.Outcome(account_id="acme", day="2026-03-01", mailbox_provider="google", delivered=2**63 - 1)
        with pytest.raises(grpc.RpcError) as err:
            stub.ReportOutcomes(router_pb2.ReportOutcomesRequest(outcomes=[big, big]), timeout=10, metadata=md)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
        # A stream of messages each over the limit.
        with pytest.raises(grpc.RpcError) as err:
            list(stub.SelectSendingIPStream(iter([huge]), timeout=10, metadata=md))
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert health_status(server.target) == health_pb2.HealthCheckResponse.SERVING


async def test_outcome_sums_saturate_and_bad_data_is_never_answered_retry(served: Any, db_url: str) -> None:
    """Issue 13, item 7: once a key's stored sums overflowed, every report touching it
    answered UNAVAILABLE ("retry") for ever, and the other accounts' outcomes in each such
    report were lost with it. An IPv6 zone id reached PostgreSQL, which refused it the same way."""
    server, admin, _ = served
    md = bearer(admin)
    day = "2026-03-01"
    full = 2**62 - 1  # where stored counts saturate (store/queries/router.sql)

    def outcome(account: str, ip: str, **counts: int) -> types_pb2.Outcome:
        return types_pb2.Outcome(account_id=account, ip=ip, mailbox_provider="google", day=day, **counts)

    async with connect(db_url) as db:
        # A key whose sums reached the edge of a bigint, as years of in-bound reports would.
        await db.execute(
            "INSERT INTO daily_outcomes (day, account_id, ip, mailbox_provider, delivered, bounced) "
            "VALUES ($1, 'acme', '192.0.2.10', 'google', $2, $3)",
            date(2026, 3, 1),
            2**63 - 10,
            full - 5,
        )
        with grpc.insecure_channel(server.target) as channel:
            stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
            batch = [outcome("acme", "192.0.2.10", delivered=10**9, bounced=10**9)] * 999
            batch.append(outcome("beta", "::ffff:192.0.2.11", delivered=7))
            for _ in range(2):  # and again: never stuck
                answer = stub.ReportOutcomes(router_pb2.ReportOutcomesRequest(outcomes=batch), timeout=10, metadata=md)
                assert answer.accepted == 1000
            rows = await db.fetch("SELECT account_id, ip, delivered, bounced FROM daily_outcomes ORDER BY 1")
            assert [tuple(r) for r in rows] == [("acme", "192.0.2.10", full, full), ("beta", "192.0.2.11", 14, 0)]

            # A zone id is bad input naming the item, and the report is applied not at all.
            for ip in ("fe80::1%eth0", "fe80::1%\x00"):
                bad = [outcome("beta", "192.0.2.11", delivered=1), outcome("beta", ip, delivered=1)]
                with pytest.raises(grpc.RpcError) as err:
                    stub.ReportOutcomes(router_pb2.ReportOutcomesRequest(outcomes=bad), timeout=10, metadata=md)
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert (err.value.details() or "").startswith("outcomes[1].ip: "), err.value.details()
        # The HTTP door goes through the same validation.
        port = int(server.wait_line(r"http listen=127\.0\.0\.1:(\d+)")[1])
        body = {"outcomes": [{"account_id": "beta", "ip": "fe80::1%eth0", "mailbox_provider": "google", "day": day}]}
        status, text = _post(port, "/v1/outcomes", body, admin)
        assert status == 400 and "outcomes[0].ip" in text and "zone id" in text, (status, text)
        assert await db.fetchval("SELECT delivered FROM daily_outcomes WHERE account_id = 'beta'") == 14


def _post(port: int, path: str, body: Any, key: str) -> tuple[int, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


# -- raw HTTP/2 ------------------------------------------------------------------------


def _grpc_frame(body: bytes, *, compressed: int = 0, length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    return bytes([compressed]) + n.to_bytes(4, "big") + body


def _raw_call(port: int, path: str, key: str, data: bytes, *, content_type: str = "application/grpc") -> dict[str, str]:
    """One request over a fresh HTTP/2 connection; the response's headers and trailers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        stream = conn.get_next_available_stream_id()
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", f"127.0.0.1:{port}"),
            ("content-type", content_type),
            ("te", "trailers"),
            ("authorization", f"Bearer {key}"),
            ("grpc-timeout", "500m"),
        ]
        conn.send_headers(stream, headers)
        conn.send_data(stream, data, end_stream=True)
        sock.sendall(conn.data_to_send())
        got: dict[str, str] = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                return got
            for event in conn.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                    got.update(
                        (k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v)
                        for k, v in event.headers
                    )
                    if isinstance(event, h2.events.TrailersReceived) or (event.stream_ended is not None):
                        return got
                elif isinstance(event, h2.events.StreamReset | h2.events.ConnectionTerminated):
                    got["reset"] = str(getattr(event, "error_code", ""))
                    return got
                elif isinstance(event, h2.events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            sock.sendall(conn.data_to_send())
        raise AssertionError(f"no answer within 10 s on {path}")


#: Known exceptions, both in grpc itself (documented in docs/operations.md, "Known limits"):
#: grpc-core rejects a frame whose compression bit is set without an encoding with
#: INTERNAL (the gRPC protocol's own code for it) before any Python code runs;
GRPC_CORE_FRAMING = {(13, "Compression bit set but no encoding configured")}
#: and grpc.aio never answers a unary call whose request message never completed (it
#: takes it for a cancelled call): the call ends at the client's deadline, or when the
#: client's connection closes.
NO_MESSAGE = {(4, name) for name in ("length beyond the body", "half a frame header", "an empty body")}
RAW_MANAGEMENT = ("GetAccount", "ImportHistory")
NO_MESSAGE_PROBES = ("SelectSendingIP", "SelectSendingIPStream", "GetAccount")


def _garbage_bodies() -> Iterator[tuple[str, bytes]]:
    yield "not protobuf", _grpc_frame(b"\xff\xff\xff\xff\x0f")
    yield "compressed without an encoding", _grpc_frame(b"\x0a\x04acme", compressed=1)
    yield "length beyond the body", _grpc_frame(b"\x0a\x04acme", length=1000)
    yield "length beyond the limit", _grpc_frame(b"", length=0xFFFFFFF0)
    yield "half a frame header", b"\x00\x00"
    yield "an empty body", b""
    yield "two frames for a unary call", _grpc_frame(b"\x0a\x04acme") * 2
    yield "random bytes", bytes(range(256)) * 4


def test_raw_http2_garbage_gets_a_status_or_a_reset_and_the_server_carries_on(served: Any) -> None:
    server, admin, _ = served
    port = server.wait_listening()
    answers = {}
    # The Router's four and two of Management's: every RPC already gets raw bytes in the
    # fuzz test; these frames test grpc's framing layer, which is the same for all.
    for method in [m for m in METHODS if m.containing_service.name == "Router" or m.name in RAW_MANAGEMENT]:
        path = f"/{method.containing_service.full_name}/{method.name}"
        for name, body in _garbage_bodies():
            if any(name == n for _, n in NO_MESSAGE) and method.name not in NO_MESSAGE_PROBES:
                continue  # each of these waits for its deadline: a few methods show it
            got = _raw_call(port, path, admin, body)
            answers[(method.name, name)] = got
            if "grpc-status" in got:
                status, message = int(got["grpc-status"]), got.get("grpc-message", "")
                assert "Traceback" not in message, got
                if (status, message) in GRPC_CORE_FRAMING or (status, name) in NO_MESSAGE:
                    continue
                assert status in ALLOWED_NUMBERS, (path, name, got)
            else:
                assert "reset" in got or got.get(":status") not in (None, "200"), (path, name, got)
    # Not gRPC at all: a wrong content type, then bytes that are not HTTP/2.
    got = _raw_call(port, "/sendingip.v1.Router/SelectSendingIP", admin, b"hello", content_type="text/plain")
    assert got.get(":status") != "200" or int(got.get("grpc-status", "3")) in ALLOWED_NUMBERS, got
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)) * 64)
        sock.settimeout(10)
        while sock.recv(65536):  # the server answers or closes; it must not hang
            pass
    assert health_status(server.target) == health_pb2.HealthCheckResponse.SERVING
    assert server.proc.poll() is None
