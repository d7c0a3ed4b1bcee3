"""What a legitimate MTA sees while a flood runs, and what the router holds meanwhile.

``Probes`` makes a pick every ``interval`` seconds through each way an MTA comes in: a gRPC
channel opened before the flood, a new gRPC channel each time, and a new connection to the
HTTP door each time; it keeps every latency and every failure. ``Footprint`` reads the
router's resident memory (VmRSS) and open descriptors from /proc as the flood goes.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from dataclasses import dataclass, field

import grpc

from sendingip.v1 import router_pb2, router_pb2_grpc
from tests.support.requests import bearer, pick_request

KINDS = ("grpc kept channel", "grpc new channel", "http new connection")


@dataclass
class Probes:
    grpc_target: str
    http_port: int
    key: str
    interval: float = 0.1
    timeout: float = 1.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    failures: list[tuple[str, float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="probes", daemon=True)
        self._channel = grpc.insecure_channel(self.grpc_target)
        self._n = 0
        self._started = 0.0

    def __enter__(self) -> Probes:
        # The kept channel connects before the flood, as an MTA's long-lived channel has.
        self._pick_grpc(router_pb2_grpc.RouterStub(self._channel))  # type: ignore[no-untyped-call]
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        self._channel.close()

    def _request(self) -> router_pb2.SelectSendingIPRequest:
        self._n += 1
        return pick_request(f"<probe-{self._n}@bounds>")

    def _pick_grpc(self, stub: router_pb2_grpc.RouterStub) -> None:
        answer = stub.SelectSendingIP(self._request(), timeout=self.timeout, metadata=bearer(self.key))
        assert answer.ip, answer

    def _pick_http(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=self.timeout)
        try:
            request = self._request()
            body = {"account_id": request.account_id, "message_id": request.message_id, "recipient_domain": "gmail.com"}
            headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
            connection.request("POST", "/v1/select", json.dumps(body), headers)
            response = connection.getresponse()
            answer = response.read()
            assert response.status == 200, (response.status, answer)
        finally:
            connection.close()

    def _one(self, kind: str) -> None:
        started = time.monotonic()
        try:
            if kind == KINDS[0]:
                self._pick_grpc(router_pb2_grpc.RouterStub(self._channel))  # type: ignore[no-untyped-call]
            elif kind == KINDS[1]:
                with grpc.insecure_channel(self.grpc_target) as channel:
                    self._pick_grpc(router_pb2_grpc.RouterStub(channel))  # type: ignore[no-untyped-call]
            else:
                self._pick_http()
        except (grpc.RpcError, OSError, AssertionError) as exc:
            what = f"{exc.code().name} {exc.details()}" if isinstance(exc, grpc.Call) else repr(exc)
            self.failures.append((kind, round(started - self._started, 2), what))
            return
        self.latencies[kind].append(time.monotonic() - started)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for kind in KINDS:
                self._one(kind)

    def slowest(self) -> float:
        return max((max(values) for values in self.latencies.values() if values), default=0.0)


@dataclass
class Footprint:
    """VmRSS (kB) and open descriptors of ``pid``, every ``interval`` seconds until ``stop``."""

    pid: int
    interval: float = 0.1
    samples: list[tuple[float, int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="footprint", daemon=True)

    def now(self) -> tuple[int, int]:
        """(VmRSS in kB, open descriptors) at this moment."""
        with open(f"/proc/{self.pid}/status") as status:
            rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        return rss, len(os.listdir(f"/proc/{self.pid}/fd"))

    def __enter__(self) -> Footprint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.interval):
            try:
                rss, fds = self.now()
            except (OSError, StopIteration):
                return  # the process ended
            self.samples.append((time.monotonic() - started, rss, fds))

    @property
    def peak_rss_mb(self) -> float:
        return max((rss for _, rss, _ in self.samples), default=0) / 1024

    @property
    def peak_descriptors(self) -> int:
        return max((fds for _, _, fds in self.samples), default=0)
