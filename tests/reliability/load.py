"""Client load for the reliability tests: threads making picks over real sockets and
keeping their own count of every answer, to reconcile against the database."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import grpc

from sendingip.v1 import router_pb2, router_pb2_grpc
from tests.support.history import PickKey
from tests.support.requests import bearer

#: (account_id, ip, mailbox_provider): the key daily_history counts by (for one day).
RECIPIENT_DOMAINS = ("gmail.com", "outlook.com", "example.org")


@dataclass
class Picker:
    """Picks in a thread until ``stop()``: unary calls, batches or one long stream.

    ``counts`` holds every answered pick; ``failures`` every call that failed (with its
    status), so a test can say "no pick failed" and "history holds exactly these".
    """

    target: str
    key: str
    accounts: Sequence[str] = ("acme", "newcomer")
    mode: str = "unary"  # "unary", "batch" or "stream"
    batch: int = 50
    #: Seconds between calls (0: as fast as it goes).
    pace: float = 0.0
    name: str = "picker"
    counts: Counter[PickKey] = field(default_factory=Counter)
    #: (time.monotonic() of the answer, number of picks in it), for "what was lost at the end".
    answered: list[tuple[float, int]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: The routing_version of each answer, per account, in the order answered.
    versions: dict[str, list[int]] = field(default_factory=dict)
    picks: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._seq = itertools.count()

    def __enter__(self) -> Picker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), f"{self.name} did not stop"

    def wait_picks(self, n: int, timeout: float = 30.0) -> None:
        """Wait until ``n`` more picks than now were answered."""
        with self._progress:
            goal = self.picks + n
            if not self._progress.wait_for(lambda: self.picks >= goal or self._stop.is_set(), timeout):
                raise AssertionError(f"{self.name}: {self.picks} picks, wanted {goal} within {timeout}s")

    def _requests(self, n: int) -> list[router_pb2.SelectSendingIPRequest]:
        out = []
        for _ in range(n):
            i = next(self._seq)
            domain = RECIPIENT_DOMAINS[i % len(RECIPIENT_DOMAINS)]
            out.append(
                router_pb2.SelectSendingIPRequest(
                    account_id=self.accounts[i % len(self.accounts)],
                    message_id=f"<{self.name}-{i}@reliability>",
                    recipient_domain=domain,
                )
            )
        return out

    def _record(self, requests: Sequence[router_pb2.SelectSendingIPRequest], answers: Sequence[object]) -> None:
        now = time.monotonic()
        with self._progress:
            for request, answer in zip(requests, answers, strict=True):
                assert isinstance(answer, router_pb2.SelectSendingIPResponse)
                self.counts[(request.account_id, answer.ip, answer.mailbox_provider)] += 1
                self.versions.setdefault(request.account_id, []).append(answer.routing_version)
            self.picks += len(answers)
            self.answered.append((now, len(answers)))
            self._progress.notify_all()

    def _run(self) -> None:
        metadata = bearer(self.key)
        with grpc.insecure_channel(self.target) as channel:
            stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
            while not self._stop.is_set():
                try:
                    if self.mode == "unary":
                        (request,) = self._requests(1)
                        self._record([request], [stub.SelectSendingIP(request, timeout=10, metadata=metadata)])
                    elif self.mode == "batch":
                        requests = self._requests(self.batch)
                        call = router_pb2.SelectSendingIPBatchRequest(requests=requests)
                        answer = stub.SelectSendingIPBatch(call, timeout=10, metadata=metadata)
                        self._record(requests, answer.responses)
                    else:
                        self._stream(stub, metadata)
                except grpc.RpcError as exc:
                    with self._progress:
                        self.failures.append((exc.code().name, exc.details() or ""))
                        self._progress.notify_all()
                    if len(self.failures) > 1000:
                        return
                if self.pace:
                    self._stop.wait(self.pace)

    def _stream(self, stub: router_pb2_grpc.RouterStub, metadata: tuple[tuple[str, str]]) -> None:
        sent: list[router_pb2.SelectSendingIPRequest] = []

        def requests() -> Iterator[router_pb2.SelectSendingIPRequest]:
            while not self._stop.is_set():
                (request,) = self._requests(1)
                sent.append(request)
                yield request
                if self.pace:
                    self._stop.wait(self.pace)

        for n, answer in enumerate(stub.SelectSendingIPStream(requests(), timeout=600, metadata=metadata)):
            self._record([sent[n]], [answer])


def total(counts: Counter[PickKey]) -> int:
    return sum(counts.values())
