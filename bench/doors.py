"""The MTA doors of SPEC §5 as the benchmark sees them: their requests as bytes, one real
request to check an answer, and bench/doorclient.c (compiled here) with its output.

Requests are built once, before a run, and differ only in their message id (1,024 of
them, for one account), so every request is a pick with the same work — the same work as
the gRPC unary body h2load sends (one Transition account, gmail.com). The Postfix request
is a whole END-OF-MESSAGE request as Postfix 3.7 writes it (about thirty attributes), not
just the five the door reads: parsing what an MTA really sends is part of a door's cost.

Everything here but ``compile_client`` and ``ask`` is a pure function of its arguments, so
the unit tests check the bytes, the parsing of the client's output and the statistics.
"""

from __future__ import annotations

import array
import json
import shutil
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from server.adapters.postfix_names import ip_from_transport

#: The C source of the line/policy/HTTP load generator, next to this module.
CLIENT_SOURCE = Path(__file__).with_name("doorclient.c")
#: How the client frames answers, by door.
FRAMING = {"http": "http", "line": "line", "postfix": "policy"}
DOMAIN = "gmail.com"


def message_id(i: int) -> str:
    return f"<bench-{i}@bench.example>"


def message_ids(n: int) -> list[str]:
    return [message_id(i) for i in range(n)]


def json_body(account_id: str, message_id: str, domain: str = DOMAIN) -> str:
    return json.dumps(
        {"account_id": account_id, "message_id": message_id, "recipient_domain": domain}, separators=(",", ":")
    )


def http_request(host: str, key: str, body: str) -> bytes:
    """``POST /v1/select`` as wrk sends it (the same headers), for the paced client."""
    data = body.encode()
    head = (
        f"POST /v1/select HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def line_request(account_id: str, message_id: str, domain: str = DOMAIN) -> bytes:
    return f"SELECT {account_id} {message_id} {domain}\n".encode()


def queue_id(i: int) -> str:
    """A Postfix-style (short, hex) queue id, distinct for each ``i``."""
    return f"4F{i:08X}"


def policy_request(account_id: str, i: int, domain: str = DOMAIN) -> bytes:
    """An END-OF-MESSAGE policy request with the attributes Postfix 3.7 sends, for a message
    submitted by SASL user ``account_id`` to one recipient at ``domain``."""
    attributes = [
        ("request", "smtpd_access_policy"),
        ("protocol_state", "END-OF-MESSAGE"),
        ("protocol_name", "ESMTP"),
        ("helo_name", "app1.acme.example"),
        ("queue_id", queue_id(i)),
        ("sender", "notifications@acme.example"),
        ("recipient", f"user{i}@{domain}"),
        ("recipient_count", "1"),
        ("client_address", "10.1.2.3"),
        ("client_name", "app1.acme.example"),
        ("reverse_client_name", "app1.acme.example"),
        ("instance", f"5a1.65f0c3b2.{i}.0"),
        ("sasl_method", "PLAIN"),
        ("sasl_username", account_id),
        ("sasl_sender", ""),
        ("size", "18432"),
        ("ccert_subject", ""),
        ("ccert_issuer", ""),
        ("ccert_fingerprint", ""),
        ("ccert_pubkey_fingerprint", ""),
        ("encryption_protocol", "TLSv1.3"),
        ("encryption_cipher", "TLS_AES_256_GCM_SHA384"),
        ("encryption_keysize", "256"),
        ("etrn_domain", ""),
        ("stress", ""),
        ("client_port", "41822"),
        ("policy_context", ""),
        ("server_address", "10.1.0.1"),
        ("server_port", "587"),
        ("compatibility_level", "3.6"),
        ("mail_version", "3.7.11"),
    ]
    return "".join(f"{k}={v}\n" for k, v in attributes).encode() + b"\n"


def message_id_for(door: str, i: int) -> str:
    """The message id the router sees for request ``i`` of ``door``: Postfix's is the queue id."""
    return queue_id(i) if door == "postfix" else message_id(i)


def requests_for(door: str, account_id: str, n: int, *, key: str = "", host: str = "") -> list[bytes]:
    """``n`` requests for ``door`` (http, line or postfix), message ids ``message_ids(n)``."""
    ids = message_ids(n)
    if door == "http":
        return [http_request(host, key, json_body(account_id, m)) for m in ids]
    if door == "line":
        return [line_request(account_id, m) for m in ids]
    if door == "postfix":
        return [policy_request(account_id, i) for i in range(n)]
    raise ValueError(f"unknown door {door!r}")


def request_file(requests: Sequence[bytes]) -> bytes:
    """The client's request file: each request as a 4-byte little-endian length and its bytes."""
    if not requests:
        raise ValueError("no requests")
    return b"".join(len(r).to_bytes(4, "little") + r for r in requests)


def answer_ip(door: str, answer: bytes) -> str | None:
    """The IP an answer names, ``None`` when it names none (a refusal, DUNNO, an error status)."""
    text = answer.decode(errors="replace")
    if door == "line":
        line = text.strip()
        return None if not line or line.startswith("ERR") else line
    if door == "postfix":
        first = text.split("\n", 1)[0]
        if not first.startswith("action=FILTER "):
            return None
        return ip_from_transport(first.removeprefix("action=FILTER ").rstrip(":"))
    if door == "http":
        head, _, body = text.partition("\r\n\r\n")
        if not head.startswith("HTTP/1.1 200"):
            return None
        ip = json.loads(body).get("ip")
        return str(ip) if ip else None
    raise ValueError(f"unknown door {door!r}")


def _complete(framing: str, data: bytes) -> bool:
    if framing == "line":
        return data.endswith(b"\n")
    if framing == "policy":
        return data.endswith(b"\n\n")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def ask(door: str, port: int, request: bytes, timeout: float = 10.0) -> bytes:
    """One request on a fresh connection; the whole answer."""
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        while not _complete(FRAMING[door], data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


class ClientMissing(RuntimeError):
    pass


def compile_client(folder: Path) -> Path:
    """bench/doorclient.c built with the system C compiler (``cc``) into ``folder``."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise ClientMissing("the door benchmark compiles bench/doorclient.c and needs a C compiler (cc, gcc or clang)")
    binary = folder / "doorclient"
    done = subprocess.run([cc, "-O2", "-o", str(binary), str(CLIENT_SOURCE)], capture_output=True, text=True)
    if done.returncode != 0:
        raise ClientMissing(f"cc could not build bench/doorclient.c:\n{done.stderr[-2000:]}")
    return binary


def client_command(
    binary: Path,
    door: str,
    port: int,
    requests: Path,
    *,
    connections: int,
    warm_up: float,
    seconds: float,
    depth: int | None = None,
    rate: float | None = None,
    latency_file: Path | None = None,
    cpus: str | None = None,
) -> list[str]:
    """``max`` with ``depth`` (requests in flight per connection), or ``paced`` at ``rate`` with ``latency_file``."""
    cmd = [str(binary), FRAMING[door], "127.0.0.1", str(port), str(requests), str(connections)]
    cmd += [f"{warm_up:g}", f"{seconds:g}"]
    if rate is not None and latency_file is not None:
        cmd += ["paced", f"{rate:g}", str(latency_file)]
    elif depth is not None:
        cmd += ["max", str(depth)]
    else:
        raise ValueError("give depth (max) or rate and latency_file (paced)")
    if cpus is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", cpus, *cmd]
    return cmd


@dataclass(frozen=True)
class ClientResult:
    #: Requests written, answers read (of which ok and bad), over the whole run with warm-up.
    sent: int
    answered: int
    ok: int
    bad: int
    #: Answers in the measured window (max) or requests due in it and answered (paced).
    measured: int
    seconds: float
    #: Paced: requests due in the measured window still unanswered 2 s after the end.
    unanswered: int
    #: The first bad answer, non-printable bytes as ``.``.
    first_bad: str

    @property
    def rps(self) -> float:
        return self.measured / self.seconds if self.seconds > 0 else 0.0


def parse_client_output(text: str) -> ClientResult:
    """The JSON line doorclient prints last; ``ValueError`` when there is none."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            raw = json.loads(line)
            return ClientResult(
                sent=int(raw["sent"]),
                answered=int(raw["answered"]),
                ok=int(raw["ok"]),
                bad=int(raw["bad"]),
                measured=int(raw["measured"]),
                seconds=float(raw["seconds"]),
                unanswered=int(raw["unanswered"]),
                first_bad=str(raw["first_bad"]),
            )
    raise ValueError(f"unexpected doorclient output:\n{text[-2000:]}")


def latencies(raw: bytes) -> list[float]:
    """The latency file (native-endian uint64 nanoseconds) as seconds."""
    if len(raw) % 8:
        raise ValueError(f"a latency file of {len(raw)} bytes is not whole uint64s")
    values = array.array("Q")
    values.frombytes(raw)
    return [v / 1e9 for v in values]
