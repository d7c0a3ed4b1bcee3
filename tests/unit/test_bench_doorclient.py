"""bench/doorclient.c and the wrk script against stub servers on loopback: what they count,
what they time, and that they stop with a clear message on an answer they cannot read.

The stubs answer each protocol's requests in order (a refusal for the requests marked
``bad``), so every number the client prints is known in advance.
"""

from __future__ import annotations

import shutil
import socketserver
import subprocess
import threading
from collections.abc import Callable, Iterator
from io import BufferedIOBase
from pathlib import Path

import pytest

from bench import doors, wrk

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")

Answer = Callable[[bytes], bytes]


def read_line(rfile: BufferedIOBase) -> bytes:
    return rfile.readline()


def read_policy(rfile: BufferedIOBase) -> bytes:
    lines = []
    while (line := rfile.readline()) not in (b"\n", b""):
        lines.append(line)
    return b"".join(lines)


def read_http(rfile: BufferedIOBase) -> bytes:
    head = []
    while (line := rfile.readline()) not in (b"\r\n", b""):
        head.append(line)
    length = next((int(h.split(b":")[1]) for h in head if h.lower().startswith(b"content-length:")), 0)
    return b"".join(head) + rfile.read(length) if head else b""


def line_answer(request: bytes) -> bytes:
    return b"ERR INVALID_ARGUMENT bad request\n" if b"bad" in request else b"192.0.2.1\n"


def policy_answer(request: bytes) -> bytes:
    return b"action=DUNNO\n\n" if b"bad" in request else b"action=FILTER sendingip_192_0_2_1:\n\n"


def http_answer(request: bytes) -> bytes:
    if b"bad" in request:
        return b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}"
    return b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{"ip":"1.2.3.4"}'


class StubServer(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """The client closes its connections with requests in flight, on purpose: not an error."""


@pytest.fixture
def stub() -> Iterator[Callable[[Callable[[BufferedIOBase], bytes], Answer], tuple[int, list[bytes]]]]:
    """Starts a threaded stub that reads requests with ``read`` and answers with ``answer``."""
    servers: list[StubServer] = []

    def start(read: Callable[[BufferedIOBase], bytes], answer: Answer) -> tuple[int, list[bytes]]:
        seen: list[bytes] = []

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while request := read(self.rfile):
                    seen.append(request)
                    self.wfile.write(answer(request))

        server = StubServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1], seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return doors.compile_client(tmp_path_factory.mktemp("doorclient"))


def run(client: Path, cmd: list[str]) -> doors.ClientResult:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return doors.parse_client_output(done.stdout)


@pytest.mark.parametrize(
    ("door", "read", "answer", "first_bad"),
    [
        ("line", read_line, line_answer, "ERR INVALID_ARGUMENT bad request."),
        ("postfix", read_policy, policy_answer, "action=DUNNO.."),
        ("http", read_http, http_answer, "HTTP/1.1 400 Bad Request..content-length: 2....{}"),
    ],
)
def test_max_counts_answers_and_refusals_in_flight(
    client: Path,
    stub: Callable[..., tuple[int, list[bytes]]],
    tmp_path: Path,
    door: str,
    read: object,
    answer: object,
    first_bad: str,
) -> None:
    port, seen = stub(read, answer)
    good = doors.requests_for(door, "acct-1", 3, key="k", host=f"127.0.0.1:{port}")
    bad = doors.requests_for(door, "bad-acct", 1, key="k", host=f"127.0.0.1:{port}")
    requests = tmp_path / "requests"
    requests.write_bytes(doors.request_file([*good, *bad]))
    cmd = doors.client_command(client, door, port, requests, connections=2, warm_up=0.2, seconds=0.5, depth=4)
    result = run(client, cmd)
    assert result.answered == result.ok + result.bad > 100
    # The requests go out in turn: one in four is refused.
    assert result.bad == pytest.approx(result.answered / 4, abs=4)  # ± the ≤ 8 left in flight
    assert result.first_bad == first_bad
    # At most depth × connections requests are in flight at any time, and none is lost.
    assert 0 <= result.sent - result.answered <= 8
    assert 0 < result.measured < result.answered and result.unanswered == 0
    assert len(set(seen)) == 4  # each of the four requests, nothing else


def test_paced_sends_on_schedule_and_times_every_measured_request(
    client: Path, stub: Callable[..., tuple[int, list[bytes]]], tmp_path: Path
) -> None:
    port, seen = stub(read_line, line_answer)
    requests = tmp_path / "requests"
    requests.write_bytes(doors.request_file(doors.requests_for("line", "acct-1", 5)))
    out = tmp_path / "latency"
    cmd = doors.client_command(
        client, "line", port, requests, connections=3, warm_up=0.25, seconds=0.5, rate=2000, latency_file=out
    )
    result = run(client, cmd)
    # Open loop: 2,000/s for 0.75 s whatever the answers do; those due in the last 0.5 s are measured.
    assert result.sent == pytest.approx(1500, abs=1) and len(seen) == result.sent
    assert result.measured == pytest.approx(1000, abs=1) and result.unanswered == 0 and result.bad == 0
    latencies = doors.latencies(out.read_bytes())
    assert len(latencies) == result.measured
    assert all(0 < s < 0.5 for s in latencies)


def test_an_answer_the_framing_cannot_read_stops_the_client(
    client: Path, stub: Callable[..., tuple[int, list[bytes]]], tmp_path: Path
) -> None:
    port, _ = stub(read_http, lambda _: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    requests = tmp_path / "requests"
    requests.write_bytes(doors.request_file(doors.requests_for("http", "acct-1", 1, key="k", host="h")))
    cmd = doors.client_command(client, "http", port, requests, connections=1, warm_up=0, seconds=0.2, depth=1)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert done.returncode == 3 and "Content-Length" in done.stderr


@pytest.mark.skipif(shutil.which("wrk") is None, reason="no wrk")
def test_wrk_script_posts_every_body_in_turn(stub: Callable[..., tuple[int, list[bytes]]], tmp_path: Path) -> None:
    port, seen = stub(read_http, http_answer)
    bodies = [doors.json_body("acct-1", m) for m in doors.message_ids(3)]
    script = tmp_path / "select.lua"
    script.write_text(wrk.lua_script("/v1/select", bodies, {"Authorization": "Bearer sip_k"}))
    cmd = wrk.command("wrk", f"http://127.0.0.1:{port}/v1/select", script=script, connections=1, duration=1)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    result = wrk.parse_output(done.stdout)
    assert result.requests > 10 and result.non_2xx == 0
    assert seen[0].startswith(b"POST /v1/select HTTP/1.1\r\n") and b"Authorization: Bearer sip_k\r\n" in seen[0]
    # In turn (wrk asks its script for one request before it starts, so the cycle may begin anywhere).
    sent = [s.split(b"\r\n")[-1].decode() for s in seen[:6]]
    assert sorted(sent[:3]) == bodies and sent[3:] == sent[:3]
