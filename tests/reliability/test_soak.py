"""Sustained load (issue 8, fault 7): half of the measured maximum, with streams that
are cancelled and clients that disconnect mid-call; the server's memory and file
descriptors must not grow. The short form runs in `make test`; `make soak` runs ten
minutes."""

from __future__ import annotations

import itertools
import os
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from sendingip.v1 import router_pb2_grpc
from store.database import connect
from tests.reliability.load import Picker
from tests.support.processes import health_status, serve_router, wait_for
from tests.support.requests import bearer, pick_request
from tests.support.routing import seed_acme

pytestmark = pytest.mark.e2e
THREADS = 3
POOL_SIZE = 10  # SENDINGIP_DB_POOL_SIZE's default


#: What grpcio 1.85 loses for each stream a client cancels or closes its channel under
#: (measured: 230-261 B against a bare grpc.aio server, the same with ours; grpc/grpc#43360).
GRPC_CANCELLED_STREAM_BYTES = 300

#: The ten-minute soak's length; set SENDINGIP_SOAK_SECONDS longer to see where memory levels off.
LONG_SOAK_SECONDS = float(os.environ.get("SENDINGIP_SOAK_SECONDS", "600"))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def grpc_connections(pid: int, port: int) -> int:
    """Open TCP connections to the server's gRPC port held by process ``pid``."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    held = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if local_port == port and state != "0A" and inode in inodes:  # 0A: LISTEN
                held += 1
    return held


class Churn:
    """Streams cancelled after a few answers, and channels closed in the middle of a
    stream (a client that goes away), over and over, until stopped."""

    def __init__(self, target: str, key: str) -> None:
        self.target, self.key = target, key
        self.cycles = 0
        self.unexpected: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._seq = itertools.count()

    def __enter__(self) -> Churn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _requests(self) -> object:
        while True:
            i = next(self._seq)
            yield pick_request(f"<churn-{i}@x>")

    def _run(self) -> None:
        while not self._stop.is_set():
            channel = grpc.insecure_channel(self.target)
            stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
            call = stub.SelectSendingIPStream(self._requests(), timeout=30, metadata=bearer(self.key))
            try:
                for n, _ in enumerate(call):
                    if n == 5:
                        if self.cycles % 2:
                            call.cancel()  # the client cancels its stream
                        else:
                            channel.close()  # the client goes away mid-stream
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.CANCELLED:
                    self.unexpected.append(f"{exc.code().name}: {exc.details()}")
            except ValueError:
                pass  # iterating a call whose channel was closed
            finally:
                channel.close()
            self.cycles += 1
            self._stop.wait(0.05)


async def _soak(db_url: str, tmp_path: Path, seconds: float, warmup: float, window_picks: int) -> None:
    """``window_picks`` bounds the repeat window (SENDINGIP_REPEAT_WINDOW_PICKS): memory is
    measured once the window has filled twice over (the second filling still takes a few MB
    as freed keys' memory is reused; flat from there on, measured in process)."""
    async with connect(db_url) as db:
        await seed_acme(db)
    server, key = serve_router(db_url, tmp_path, SENDINGIP_REPEAT_WINDOW_PICKS=str(window_picks))
    try:
        pid = server.pid
        # The maximum: THREADS unpaced clients for a few seconds.
        with_max = [Picker(server.target, key, mode="unary", name=f"max{i}") for i in range(THREADS)]
        for p in with_max:
            p.__enter__()
        started = time.monotonic()
        with_max[0].wait_picks(3000)
        for p in with_max:
            p.stop()
        max_rate = sum(p.picks for p in with_max) / (time.monotonic() - started)
        call_time = THREADS / max_rate
        pace = max(0.0, 2 * call_time - call_time)  # each thread at half its unpaced rate
        port = server.wait_listening()
        quiet_fds, quiet_conns = fds(pid), grpc_connections(pid, port)

        pickers = [Picker(server.target, key, mode="unary", name=f"half{i}", pace=pace) for i in range(THREADS)]
        pickers.append(Picker(server.target, key, mode="batch", name="batch", batch=20, pace=0.05))
        with Churn(server.target, key) as churn:
            for p in pickers:
                p.__enter__()
            try:
                time.sleep(warmup)  # the load runs; nothing to wait for but time
                rss_start = rss_kib(pid)
                rate_start = sum(p.picks for p in pickers)
                remembered = rate_start + sum(p.picks for p in with_max)
                churn_start = churn.cycles
                curve = [rss_start]  # RSS every minute, printed: where growth happens, if it does
                ends = time.monotonic() + seconds - warmup
                while (left := ends - time.monotonic()) > 0:
                    time.sleep(min(60.0, left))
                    curve.append(rss_kib(pid))
                rss_end = curve[-1]
                churned = churn.cycles - churn_start
                rate = (sum(p.picks for p in pickers) - rate_start) / (seconds - warmup)
            finally:
                for p in pickers:
                    p.stop()
        assert [p.failures for p in pickers] == [[]] * len(pickers)
        # The repeat window had filled twice before the first reading: what follows is steady state.
        assert remembered >= 2 * window_picks, (remembered, window_picks)
        assert churn.cycles > 10 and not churn.unexpected, (churn.cycles, churn.unexpected[:3])
        # Every client connection is closed again, and no other descriptor stays behind
        # (beyond PostgreSQL connections the pool may have opened, up to its size).
        wait_for(lambda: grpc_connections(pid, port) <= quiet_conns, timeout=30)
        assert fds(pid) <= quiet_fds + POOL_SIZE, (quiet_fds, fds(pid))
        growth = (rss_end - rss_start) / rss_start
        # grpcio's own cost per stream a client cancels or drops (grpc/grpc#43360; docs/operations.md,
        # "Known limits"), which the churn pays ~900 times a minute, on top of the 5 %.
        allowed = 0.05 + churned * GRPC_CANCELLED_STREAM_BYTES / 1024 / rss_start
        print(
            f"soak: {seconds:.0f}s max={max_rate:.0f}/s load={rate:.0f}/s churn_cycles={churn.cycles} "
            f"rss {rss_start} -> {rss_end} KiB ({100 * growth:+.1f}%) fds {quiet_fds} -> {fds(pid)}"
            f" (allowed {100 * allowed:+.1f}% for {churned} streams cut) rss by minute {curve}"
        )
        assert growth <= allowed, (rss_start, rss_end, churned)
        assert health_status(server.target) == health_pb2.HealthCheckResponse.SERVING
    finally:
        server.stop()
    assert "Traceback" not in server.output, server.output


async def test_short_soak_memory_and_descriptors_stay_flat(db_url: str, tmp_path: Path) -> None:
    await _soak(db_url, tmp_path, seconds=15, warmup=5, window_picks=1_000)


@pytest.mark.soak
@pytest.mark.timeout(LONG_SOAK_SECONDS + 300)
async def test_ten_minute_soak_memory_and_descriptors_stay_flat(db_url: str, tmp_path: Path) -> None:
    # 20,000 picks (~2 MB) fill twice in under a minute at the soak's ~1,000 picks/s.
    await _soak(db_url, tmp_path, seconds=LONG_SOAK_SECONDS, warmup=120, window_picks=20_000)
