"""`sendingip loadtest`: N simulated MTAs asking a router for IPs at a target total rate.

Each MTA has a connection of its own and sends on a fixed schedule (open loop: a slow
answer does not delay the next request), with up to ``max_in_flight`` calls outstanding;
a request whose MTA already has that many in flight is not sent and is counted as
``skipped`` (the target rate is more than this client, or the server, can carry). Accounts
and mailbox providers are drawn from the given lists and mix. Every second a progress line
goes to stderr; at the end a report gives latency percentiles, errors by status code,
overflow and pool-type counts.

What a run leaves in the router's database: by default nothing. Its picks go as retries
(``retry``: answered by the same lookup and draw, but counted nowhere: no history, no use
of today's warm-up limits, no account created for an id the router does not know), so a
load test of a production router leaves its accounts and figures as they were. With
``counted`` they are first picks, counted like real mail; the report then says what the
run added (picks in today's history of which accounts) and how to remove it.

Bounded: at most ``MAX_MTAS`` MTAs, ``MAX_RATE`` requests/s and ``MAX_DURATION`` seconds;
each call has a deadline of ``call_timeout`` seconds, and the run waits at most that long
for the last calls after the duration.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import grpc

from bench.stats import percentiles
from sendingip.v1 import router_pb2, router_pb2_grpc, types_pb2

MAX_MTAS = 1000
MAX_RATE = 200_000.0
MAX_DURATION = 3600.0
#: A recipient domain per provider, so the router classifies as an MTA's request makes it.
DOMAINS = {
    "google": "gmail.com",
    "microsoft": "outlook.com",
    "yahoo": "yahoo.com",
    "apple": "icloud.com",
    "other": "example.org",
}


def parse_mix(text: str) -> list[tuple[str, float]]:
    """``google=50,microsoft=30,other=20`` → weights; ``ValueError`` names a bad part."""
    mix: list[tuple[str, float]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, weight = part.partition("=")
        try:
            value = float(weight)
        except ValueError:
            value = -1.0
        if not sep or not name.strip() or value < 0:
            raise ValueError(f"provider mix: {part!r} is not provider=weight (e.g. google=50)")
        mix.append((name.strip(), value))
    if not mix or sum(w for _, w in mix) <= 0:
        raise ValueError("provider mix: give at least one provider with a positive weight")
    return mix


@dataclass(frozen=True)
class LoadSpec:
    target: str
    key: str | None
    mtas: int
    rate: float
    duration: float
    accounts: tuple[str, ...]
    provider_mix: tuple[tuple[str, float], ...] = (("google", 50), ("microsoft", 30), ("other", 20))
    region: str = ""
    max_in_flight: int = 256
    call_timeout: float = 5.0
    seed: int = 1
    #: First picks, counted into the history like real mail (else retries: counted nowhere).
    counted: bool = False

    def check(self) -> None:
        if not 1 <= self.mtas <= MAX_MTAS:
            raise ValueError(f"--mtas must be 1-{MAX_MTAS}")
        if not 0 < self.rate <= MAX_RATE:
            raise ValueError(f"--rate must be above 0 and at most {MAX_RATE:,.0f} requests/s")
        if not 0 < self.duration <= MAX_DURATION:
            raise ValueError(f"--duration must be above 0 and at most {MAX_DURATION:,.0f} s")
        if not self.accounts:
            raise ValueError("give --accounts a,b,c or --account-count N")


@dataclass
class Tally:
    sent: int = 0
    ok: int = 0
    skipped: int = 0
    overflow: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    pool_types: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    in_flight: int = 0
    #: Answered picks per account (what a counted run added to each account's history).
    accounts: dict[str, int] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def _pool_type(value: int) -> str:
    return types_pb2.PoolType.Name(value).removeprefix("POOL_TYPE_").lower()


class LoadTest:
    def __init__(
        self, spec: LoadSpec, progress: TextIO | None = sys.stderr, clock: Callable[[], float] = time.perf_counter
    ):
        spec.check()
        self.spec = spec
        self.progress = progress
        self.clock = clock
        self.tally = Tally()
        self._window: list[float] = []
        self._run_id = f"{random.Random().getrandbits(32):08x}"

    def _requests(self, mta: int) -> Callable[[int], router_pb2.SelectSendingIPRequest]:
        rng = random.Random(self.spec.seed * 1_000_003 + mta)
        names = [n for n, _ in self.spec.provider_mix]
        weights = [w for _, w in self.spec.provider_mix]
        accounts = self.spec.accounts

        def make(n: int) -> router_pb2.SelectSendingIPRequest:
            provider = rng.choices(names, weights)[0]
            request = router_pb2.SelectSendingIPRequest(
                account_id=accounts[rng.randrange(len(accounts))],
                message_id=f"<{self._run_id}.{mta}.{n}@loadtest>",
                region=self.spec.region,
                retry=not self.spec.counted,
            )
            if provider in DOMAINS:
                request.recipient_domain = DOMAINS[provider]
            else:
                request.mailbox_provider = provider
            return request

        return make

    async def _call(self, stub: Any, request: router_pb2.SelectSendingIPRequest, md: Any) -> None:
        t = self.tally
        t.in_flight += 1
        t0 = self.clock()
        try:
            response = await stub.SelectSendingIP(request, metadata=md, timeout=self.spec.call_timeout)
        except grpc.aio.AioRpcError as exc:
            name = exc.code().name
            t.errors[name] = t.errors.get(name, 0) + 1
        else:
            seconds = self.clock() - t0
            t.ok += 1
            t.accounts[request.account_id] = t.accounts.get(request.account_id, 0) + 1
            t.latencies.append(seconds)
            self._window.append(seconds)
            if response.overflow:
                t.overflow += 1
            kind = _pool_type(response.pool_type)
            t.pool_types[kind] = t.pool_types.get(kind, 0) + 1
        finally:
            t.in_flight -= 1

    async def _mta(self, mta: int, start: float, md: Any) -> None:
        spec = self.spec
        interval = spec.mtas / spec.rate
        make = self._requests(mta)
        # Stagger the MTAs over one interval so they do not send in lockstep.
        offset = interval * mta / spec.mtas
        pending: set[asyncio.Task[None]] = set()
        async with grpc.aio.insecure_channel(spec.target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
            n = 0
            while True:
                due = start + offset + n * interval
                if due - start >= spec.duration - 1e-9:  # the schedule's end, whatever float rounding says
                    break
                delay = due - self.clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                if len(pending) >= spec.max_in_flight:
                    self.tally.skipped += 1
                else:
                    self.tally.sent += 1
                    task = asyncio.create_task(self._call(stub, make(n), md))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                n += 1
            if pending:
                await asyncio.wait(pending, timeout=spec.call_timeout + 1)

    def _progress_line(self, elapsed: float, last_sent: int) -> str:
        t = self.tally
        window, self._window = self._window, []
        p99 = percentiles(window, (99,)).get("p99")
        p99_text = f"{p99 * 1e3:.2f} ms" if p99 is not None else "-"
        return (
            f"t={elapsed:5.1f}s sent={t.sent} rate={t.sent - last_sent}/s p99={p99_text} "
            f"errors={t.error_count} overflow={t.overflow} skipped={t.skipped} in_flight={t.in_flight}"
        )

    async def run(self) -> dict[str, Any]:
        spec = self.spec
        md = (("authorization", f"Bearer {spec.key}"),) if spec.key else ()
        start = self.clock()
        mtas = [asyncio.create_task(self._mta(i, start, md)) for i in range(spec.mtas)]
        last_sent = 0
        done = asyncio.gather(*mtas)
        try:
            while not done.done():
                await asyncio.wait([done], timeout=1.0)
                if self.progress is not None:
                    print(self._progress_line(self.clock() - start, last_sent), file=self.progress, flush=True)
                last_sent = self.tally.sent
            await done
        finally:
            for task in mtas:
                task.cancel()
        return self.result(self.clock() - start)

    def result(self, elapsed: float) -> dict[str, Any]:
        t = self.tally
        lat = percentiles(t.latencies, (50, 90, 99, 99.9))
        return {
            "target": self.spec.target,
            "mtas": self.spec.mtas,
            "target_rate": self.spec.rate,
            "duration": self.spec.duration,
            "elapsed": elapsed,
            "sent": t.sent,
            "ok": t.ok,
            "achieved_rate": t.ok / elapsed if elapsed > 0 else 0.0,
            "skipped": t.skipped,
            "errors": dict(sorted(t.errors.items())),
            "overflow": t.overflow,
            "pool_types": dict(sorted(t.pool_types.items())),
            "latency_seconds": lat,
            "counted": self.spec.counted,
            "counted_accounts": dict(sorted(t.accounts.items())) if self.spec.counted else {},
        }


def format_report(result: dict[str, Any]) -> str:
    lat = result["latency_seconds"]

    def ms(key: str) -> str:
        return f"{lat[key] * 1e3:.2f} ms" if key in lat else "-"

    errors = ", ".join(f"{k} {v}" for k, v in result["errors"].items()) or "none"
    pools = ", ".join(f"{k} {v}" for k, v in result["pool_types"].items()) or "-"
    overflow_pct = 100 * result["overflow"] / result["ok"] if result["ok"] else 0.0
    lines = [
        f"load test of {result['target']}: {result['mtas']} MTAs, target {result['target_rate']:,.0f} req/s "
        f"for {result['duration']:g} s",
        f"  sent {result['sent']:,}  answered {result['ok']:,}  ({result['achieved_rate']:,.0f} req/s achieved)"
        f"  skipped {result['skipped']:,} (MTA at its in-flight bound)",
        f"  latency  p50 {ms('p50')}  p90 {ms('p90')}  p99 {ms('p99')}  p99.9 {ms('p99.9')}  max {ms('max')}",
        f"  errors   {errors}",
        f"  overflow {result['overflow']:,} ({overflow_pct:.2f}% of answers)   pools: {pools}",
        f"  left     {left_behind(result)}",
    ]
    return "\n".join(lines)


#: Account ids a counted run's report names in full; more are counted.
NAMED_ACCOUNTS = 10


def left_behind(result: dict[str, Any]) -> str:
    """What the run added to the router's database, in words."""
    if not result.get("counted"):
        return "nothing: the picks went as retries (answered alike, counted nowhere)"
    accounts: dict[str, int] = result.get("counted_accounts", {})
    if not accounts:
        return "nothing: no pick was answered"
    names = ", ".join(list(accounts)[:NAMED_ACCOUNTS]) + (
        f" and {len(accounts) - NAMED_ACCOUNTS} more" if len(accounts) > NAMED_ACCOUNTS else ""
    )
    return (
        f"{sum(accounts.values()):,} picks counted into today's history of {len(accounts)} accounts ({names}), "
        "using today's warm-up limits like real mail; an id the router did not know became a General account "
        "at its next history flush: `sendingip accounts delete ID --yes` removes one (its history ages out with the window)"
    )


def account_list(accounts: str | None, count: int | None, prefix: Sequence[str] = ()) -> tuple[str, ...]:
    """``--accounts a,b`` or ``--account-count N`` (the bench seed's ids, acct-000000…)."""
    if accounts:
        return tuple(a.strip() for a in accounts.split(",") if a.strip())
    if count:
        return tuple(f"acct-{i:06d}" for i in range(count))
    return tuple(prefix)
