"""Issue 13, items 1 and 11: what anyone who reaches the ports can make the router hold.

Before: 4,000 half-open connections took the router from 67 to 203 MB, 100,000 half-open
HTTP/2 streams to 822 MB, never given back; at the descriptor limit a new MTA's pick timed
out; a second ``serve`` on a held port started silently and took half the traffic. Now every
listener has bounds (docs/operations.md: Reliability), and these tests flood them while a legitimate
MTA picks through each door.
"""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import h2.config
import h2.connection
import h2.errors
import h2.events
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sendingip.v1 import router_pb2, router_pb2_grpc
from server import app
from server.config import GrpcBounds, ServerConfig
from store.config import DatabaseConfig
from store.database import connect
from tests.reliability.probes import Footprint, Probes
from tests.support.processes import SENDINGIP, ServerProcess, admin_key, health_status, sendingip_env, wait_for
from tests.support.requests import bearer, pick_request
from tests.support.routing import seed_acme
from tests.support.soak import SOAK

REPO = Path(__file__).resolve().parents[2]

#: Timeouts short enough for the flood to see them act within the test (defaults: 10 s to
#: send the preface or a request, 300 s / 600 s idle).
SHORT_TIMEOUTS = {
    "SENDINGIP_GRPC_HANDSHAKE_TIMEOUT": "2",
    "SENDINGIP_GRPC_REQUEST_TIMEOUT": "2",
    "SENDINGIP_GRPC_IDLE_TIMEOUT": "3",
    "SENDINGIP_ADAPTER_REQUEST_TIMEOUT": "2",
    "SENDINGIP_ADAPTER_IDLE_TIMEOUT": "3",
}
#: The most the router's resident memory may grow under the short flood below, over its
#: size before. Measured on the 2-CPU development VM: +87 to +97 MB (56 MB before). Before
#: the bounds, the same flood took it up by 336 MB, growing with every stream it sent.
FLOOD_RSS_GROWTH_MB = 150


# -- in process: the request-arrival bounds, call by call ----------------------------


@pytest.fixture
async def bounded(tmp_path: Path) -> AsyncIterator[Any]:
    """A gRPC server (health and reflection only) with the bounds each test asks for."""
    started: list[app.App] = []

    async def start(**bounds: Any) -> app.App:
        config = ServerConfig(
            listen="127.0.0.1:0",
            database=DatabaseConfig(url="postgresql://unused", data_dir=tmp_path),
            grpc=GrpcBounds(**bounds),
        )
        server = await app.create_server(config)
        await server.start(config.listen)
        await server.set_serving(True)
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop(0)


class RawClient:
    """An HTTP/2 client that sends a call's headers and, or not, its request."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.statuses: dict[int, tuple[str, str]] = {}
        self._flush()

    def _flush(self) -> None:
        self.sock.sendall(self.conn.data_to_send())

    def open(self, path: str = "/grpc.health.v1.Health/Check", *, end: bool = False) -> int:
        """A call's HEADERS (and END_STREAM without a message when ``end``); its stream id."""
        stream = self.conn.get_next_available_stream_id()
        headers = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "x")]
        headers += [("content-type", "application/grpc"), ("te", "trailers")]
        self.conn.send_headers(stream, headers, end_stream=end)
        self._flush()
        return stream

    def wait_status(self, stream: int, within: float) -> tuple[str, str] | None:
        """(grpc-status, grpc-message) of ``stream``, or None if it did not come in time."""
        deadline = time.monotonic() + within
        while stream not in self.statuses and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.TrailersReceived | h2.events.ResponseReceived):
                    headers = {_text(k): _text(v) for k, v in event.headers}
                    if "grpc-status" in headers:
                        self.statuses[event.stream_id] = (headers["grpc-status"], headers.get("grpc-message", ""))
            self._flush()
        return self.statuses.get(stream)

    def close(self) -> None:
        self.sock.close()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def test_a_call_whose_request_never_comes_is_answered_deadline_exceeded(bounded: Any) -> None:
    """Before: grpc.aio waited for the request without end, holding the call for ever."""
    server = await bounded(request_timeout=0.5)
    client = RawClient(server.port)
    try:
        stream = client.open()
        started = time.monotonic()
        status = await asyncio.to_thread(client.wait_status, stream, 5.0)
        assert status is not None and status[0] == str(grpc.StatusCode.DEADLINE_EXCEEDED.value[0]), status
        assert "did not arrive within 0.5s" in status[1]
        assert 0.4 < time.monotonic() - started < 2.5
        # A call that ends without a request is bad input, answered at once.
        ended = client.open(end=True)
        status = await asyncio.to_thread(client.wait_status, ended, 2.0)
        assert status is not None and status[0] == str(grpc.StatusCode.INVALID_ARGUMENT.value[0]), status
    finally:
        client.close()
    assert server.admission.waiting == 0 and server.admission.timed_out == 1


async def test_at_the_bound_the_call_waiting_longest_makes_room_for_a_new_one(bounded: Any) -> None:
    server = await bounded(request_timeout=60, max_waiting_requests=3)
    client = RawClient(server.port)
    try:
        streams = [client.open() for _ in range(3)]
        await _until(lambda: server.admission.waiting == 3)
        newest = client.open()
        status = await asyncio.to_thread(client.wait_status, streams[0], 3.0)
        assert status is not None and status[0] == str(grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]), status
        assert server.admission.waiting == 3 and newest not in client.statuses
        # A legitimate call (headers and request together) is served at once.
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        client.close()


async def test_streams_of_the_services_that_need_no_key_are_capped(bounded: Any) -> None:
    """Health ``Watch`` streams never end: without a cap, anonymous watchers could fill
    ``max_concurrent_rpcs`` and keep every pick out."""
    server = await bounded(max_keyless_streams=2)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        watches = [stub.Watch(health_pb2.HealthCheckRequest()) for _ in range(2)]
        for watch in watches:
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            third = stub.Watch(health_pb2.HealthCheckRequest())
            await third.read()
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)).status == 1
        watches[0].cancel()
        await _until(lambda: server.admission.keyless_streams == 1)
        again = stub.Watch(health_pb2.HealthCheckRequest())
        assert (await again.read()).status == health_pb2.HealthCheckResponse.SERVING
        again.cancel()
        watches[1].cancel()


async def test_a_client_that_pings_too_often_is_sent_goaway(bounded: Any) -> None:
    """Keepalive policing: pings more often than ``min_ping_interval`` are strikes, and the
    third gets GOAWAY ENHANCE_YOUR_CALM ("too_many_pings"); one ping per interval is fine."""
    server = await bounded(min_ping_interval=0.5)

    def pings(every: float, count: int) -> h2.events.ConnectionTerminated | None:
        client = RawClient(server.port)
        try:
            for n in range(count):
                client.conn.ping(n.to_bytes(8, "big"))
                client._flush()
                deadline = time.monotonic() + every
                while (left := deadline - time.monotonic()) > 0:
                    client.sock.settimeout(left)
                    try:
                        data = client.sock.recv(65536)
                    except TimeoutError:
                        break
                    for event in client.conn.receive_data(data) if data else ():
                        if isinstance(event, h2.events.ConnectionTerminated):
                            return event
            return None
        finally:
            client.close()

    goaway = await asyncio.to_thread(pings, 0.05, 10)
    assert goaway is not None and goaway.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, goaway
    assert b"too_many_pings" in (goaway.additional_data or b"")
    assert await asyncio.to_thread(pings, 0.6, 4) is None


def test_the_open_files_limit_is_raised_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"the hard limit here ({hard}) leaves no room to lower the soft one")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        limit = app.raise_descriptor_limit(ServerConfig())
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == limit > 1024
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# -- end to end: floods against `sendingip serve` ------------------------------------


@pytest.fixture
async def seeded_url(db_url: str) -> str:
    async with connect(db_url) as db:
        await seed_acme(db)
        await db.execute("INSERT INTO accounts (account_id, region) VALUES ('acme', 'us-east')")
    return db_url


@pytest.fixture
def serve(seeded_url: str, tmp_path: Path) -> Iterator[Any]:
    started: list[ServerProcess] = []
    keys: list[str] = []

    def start(**env: str) -> tuple[ServerProcess, str, int]:
        base = {"SENDINGIP_DATA_DIR": str(tmp_path / f"data{len(started)}"), "SENDINGIP_METRICS_LISTEN": "0"}
        server = ServerProcess(sendingip_env(seeded_url, **base, **env), ["--no-workers"])
        started.append(server)
        if not keys:  # the first start on the database prints its bootstrap admin key
            keys.append(admin_key(server))
        key = keys[0]
        server.wait_serving(30)
        http_port = int(server.wait_line(r"http listen=\S+:(\d+)")[1])
        return server, key, http_port

    yield start
    for server in started:
        server.stop()


def _flood(
    port: int, *counts: str, hold: float, rate: float, streams: int = 0, stream_rate: float = 1.0, body: int = 0
) -> Any:
    """The flood, in a process of its own (``tests/reliability/flood.py``)."""
    args = [sys.executable, "-m", "tests.reliability.flood", "127.0.0.1", str(port), *counts]
    args += ["--hold", str(hold), "--rate", str(rate), "--streams", str(streams), "--stream-rate", str(stream_rate)]
    args += ["--body", str(body)]
    return subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, text=True)


def _report(flood: Any, timeout: float) -> dict[str, Any]:
    out, _ = flood.communicate(timeout=timeout)
    assert flood.returncode == 0, out
    kinds: dict[str, Any] = json.loads(out)["kinds"]
    return kinds


def _run_flood(
    server: ServerProcess, http_port: int, key: str, *, scale: int, hold: float, streams_per_second: float
) -> tuple[Probes, Footprint, Any]:
    """Both ports flooded at once, ``scale`` times: on gRPC, 400 idle TCP connections, 400
    that stop after the HTTP/2 preface, 400 each opening 25 streams whose request never
    comes (10,000 streams) and 8 each opening 25 streams whose 4 MB request stops where flow
    control does; on the HTTP door, 600 idle connections, 600 requests whose body never
    comes and 100 that stop after 1 MB of a 4 MB body (more than the door's 1,024
    connections and 64 MB at once). A pick through each door every 0.1 s meanwhile."""
    grpc_port = server.wait_listening()
    footprint = Footprint(server.pid)
    with Probes(server.target, http_port, key) as probes, footprint:
        time.sleep(0.5)
        floods = [
            _flood(grpc_port, f"idle={400 * scale}", f"preface={400 * scale}", f"streams={400 * scale}",
                   f"big_grpc={8 * scale}", hold=hold, rate=200, streams=25,
                   stream_rate=streams_per_second / (408 * scale)),
            _flood(http_port, f"idle={600 * scale}", f"half_http={600 * scale}", f"big_http={100 * scale}",
                   hold=hold, rate=1000, body=1_000_000),
        ]  # fmt: skip
        reports = [_report(flood, timeout=hold * 3 + 60) for flood in floods]
        time.sleep(1.0)
    return probes, footprint, reports


def _closed_by_the_router(reports: Any, scale: int) -> None:
    """Every connection of the flood was closed by the router itself, by one of its bounds,
    before the flood would have given up on it (the ``streams`` ones keep sending)."""
    grpc_kinds, http_kinds = reports
    for kind in ("idle", "preface"):
        assert grpc_kinds[kind]["closed_by_server"] == grpc_kinds[kind]["opened"] > 0, (kind, grpc_kinds)
    for kind in ("idle", "half_http"):
        assert http_kinds[kind]["closed_by_server"] == http_kinds[kind]["opened"] > 0, (kind, http_kinds)
    assert grpc_kinds["streams"]["streams_sent"] == 10_000 * scale
    assert grpc_kinds["big_grpc"]["streams_sent"] == 200 * scale


def test_a_flood_of_idle_and_half_open_connections_and_streams_leaves_memory_bounded_and_picks_answered(
    serve: Any,
) -> None:
    server, key, http_port = serve(**SHORT_TIMEOUTS)
    footprint = Footprint(server.pid)
    before_rss, before_fds = footprint.now()
    probes, during, reports = _run_flood(server, http_port, key, scale=1, hold=12.0, streams_per_second=1000)
    growth = during.peak_rss_mb - before_rss / 1024
    print(f"RSS {before_rss / 1024:.0f} MB before, peak {during.peak_rss_mb:.0f} MB (+{growth:.0f} MB); "
          f"descriptors {before_fds} before, peak {during.peak_descriptors}; slowest pick {probes.slowest():.3f}s; "
          f"{len(probes.failures)} picks failed {probes.failures[:3]}")  # fmt: skip
    assert probes.failures == [], probes.failures[:10]
    assert probes.slowest() < 1.0
    assert all(len(latencies) > 50 for latencies in probes.latencies.values()), probes.latencies.keys()
    assert growth < FLOOD_RSS_GROWTH_MB, f"RSS grew {growth:.0f} MB"
    _closed_by_the_router(reports, scale=1)
    # Descriptors are given back: the flood's connections are all closed.
    wait_for(lambda: footprint.now()[1] <= before_fds + 10, timeout=10)
    assert server.proc.poll() is None


def test_a_stream_without_a_key_is_refused_when_it_opens_not_at_its_first_request(serve: Any) -> None:
    """Else a stream that never sends would hold a call slot for ever (the key is checked
    per request too, for the account scope)."""
    server, _, _ = serve()
    done = threading.Event()

    def nothing() -> Iterator[router_pb2.SelectSendingIPRequest]:
        done.wait(10)  # sends no request until the test is over
        yield from ()

    with grpc.insecure_channel(server.target) as channel:
        stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
        started = time.monotonic()
        call = stub.SelectSendingIPStream(nothing(), timeout=5)
        try:
            with pytest.raises(grpc.RpcError) as refused:
                next(call)
        finally:
            done.set()
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, refused.value
    assert time.monotonic() - started < 2


def test_the_grpc_connection_bound_closes_one_more_at_once_and_the_mta_already_connected_goes_on(
    serve: Any,
) -> None:
    server, key, _ = serve(SENDINGIP_GRPC_MAX_CONNECTIONS="50")
    pick = pick_request("<1@bound>")
    with grpc.insecure_channel(server.target) as channel:
        stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
        stub.SelectSendingIP(pick, timeout=5, metadata=bearer(key))  # the MTA's channel holds one place
        socks = [socket.create_connection(("127.0.0.1", server.wait_listening()), timeout=5) for _ in range(80)]
        try:
            time.sleep(1.0)
            held = sum(1 for sock in socks if _still_open(sock))
            assert held <= 49, held
            assert stub.SelectSendingIP(pick, timeout=1, metadata=bearer(key)).ip
        finally:
            for sock in socks:
                sock.close()


def _still_open(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def test_a_second_serve_on_a_held_port_exits_2_with_a_clear_error_and_the_first_answers_every_pick(
    serve: Any, databases: Any
) -> None:
    """Before: grpc's SO_REUSEPORT let it start silently, and the kernel gave it half the
    connections (6 of 12 picks went to the wrong database)."""
    first, key, http_port = serve()
    port = first.wait_listening()
    other_db = asyncio.run(databases.create())
    env = sendingip_env(other_db, SENDINGIP_METRICS_LISTEN="0")
    with Probes(first.target, http_port, key) as probes:
        second = subprocess.run(
            [SENDINGIP, "serve", "--no-workers", "--listen", f"127.0.0.1:{port}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        time.sleep(0.5)
    assert second.returncode == 2, second.stdout + second.stderr
    error = [line for line in second.stderr.splitlines() if line.startswith("error: ")]
    assert error == [f"error: the gRPC server cannot listen on 127.0.0.1:{port}: address already in use: another "
                     "process holds it (another sendingip serve?)"], second.stderr  # fmt: skip
    assert "Traceback" not in second.stdout + second.stderr
    assert probes.failures == [] and all(probes.latencies.values())
    assert health_status(first.target) == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.soak
@pytest.mark.timeout(900)
def test_soak_repeated_floods_keep_memory_bounded_and_the_connection_bound_holds(serve: Any) -> None:
    """Longer and heavier: three rounds of twice the short flood (4,800 connections and 20,000
    streams a round, 600 a second): memory stays bounded round after round instead of growing
    with each. Then 5,000 connections that hold after the preface against the default
    4,096-connection bound, with the default timeouts: at most 4,096 stay."""
    assert SOAK
    server, key, http_port = serve(**SHORT_TIMEOUTS)
    footprint = Footprint(server.pid)
    before_rss, before_fds = footprint.now()
    peaks = []
    for _ in range(3):
        probes, during, reports = _run_flood(server, http_port, key, scale=2, hold=45.0, streams_per_second=600)
        assert probes.failures == [], probes.failures[:10]
        assert probes.slowest() < 1.0
        _closed_by_the_router(reports, scale=2)
        peaks.append(during.peak_rss_mb - before_rss / 1024)
        wait_for(lambda: footprint.now()[1] <= before_fds + 10, timeout=15)
    print(f"RSS growth per round (MB): {[round(p) for p in peaks]}")
    assert max(peaks) < FLOOD_RSS_GROWTH_MB
    assert peaks[2] < peaks[0] + 20, peaks  # one round's memory is reused by the next

    capped, key, _ = serve()
    footprint = Footprint(capped.pid)
    before_rss, _ = footprint.now()
    pick = pick_request("<1@cap>")
    with grpc.insecure_channel(capped.target) as channel, footprint:
        stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
        stub.SelectSendingIP(pick, timeout=5, metadata=bearer(key))
        flood = _flood(capped.wait_listening(), "preface=5000", hold=15.0, rate=1000)
        time.sleep(8.0)
        assert stub.SelectSendingIP(pick, timeout=1, metadata=bearer(key)).ip
        report = _report(flood, timeout=120)["preface"]
    held = report["opened"] - report["closed_by_server"]
    growth = footprint.peak_rss_mb - before_rss / 1024
    print(f"at the connection bound: {held} of 5,000 held, RSS +{growth:.0f} MB, {footprint.peak_descriptors} fds")
    assert held <= 4096 - 1, report  # the MTA's channel holds one place
    assert growth < FLOOD_RSS_GROWTH_MB
