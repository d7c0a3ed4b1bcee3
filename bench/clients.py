"""Python gRPC clients for the benchmark, each meant to run in a process of its own (pinned
with taskset) and print one JSON line:

    python -m bench.clients unary  --target HOST:PORT --key KEY --seconds 4 [--concurrency 64]
    python -m bench.clients batch  --target … [--batch 1000 --concurrency 4]
    python -m bench.clients stream --target … [--streams 4 --window 256]
    python -m bench.clients sequential --target … --out FILE   # until stdin closes

``unary``/``batch``/``stream`` are closed-loop throughput runs (picks per second with the
same client library, so their ratios measure the RPC shapes, not the clients);
``sequential`` makes one call at a time and writes ``(wall time, seconds)`` per call, for
latency while something else happens on the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
import uvloop

from bench import seed
from sendingip.v1 import router_pb2, router_pb2_grpc

DOMAINS = {"google": "gmail.com", "microsoft": "outlook.com", "yahoo": "yahoo.com", "apple": "icloud.com"}


def requests(n: int, accounts: int, *, tag: str = "b", retry: bool = False) -> list[router_pb2.SelectSendingIPRequest]:
    """``n`` requests over ``accounts`` seeded accounts, providers in the seed's mix."""
    providers = [p for p, share in seed.PROVIDER_MIX.items() for _ in range(share)]
    return [
        router_pb2.SelectSendingIPRequest(
            account_id=seed.account_id((i * 7919) % accounts),
            message_id=f"<{tag}.{i}@bench.example>",
            recipient_domain=DOMAINS.get(providers[i % len(providers)], "example.org"),
            retry=retry,
        )
        for i in range(n)
    ]


def metadata(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


class Counter:
    def __init__(self) -> None:
        self.picks = 0
        self.calls = 0
        self.errors: dict[str, int] = {}

    def error(self, exc: grpc.aio.AioRpcError) -> None:
        name = exc.code().name
        self.errors[name] = self.errors.get(name, 0) + 1


async def _until(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.perf_counter()))


async def _closed_loop(
    call: Callable[[int], Awaitable[int]], counter: Counter, seconds: float, concurrency: int
) -> float:
    """``concurrency`` workers each awaiting ``call(i)`` (it returns the picks answered)
    back to back for ``seconds``; returns the elapsed time."""
    start = time.perf_counter()
    deadline = start + seconds

    async def worker(w: int) -> None:
        i = w
        while time.perf_counter() < deadline:
            try:
                picks = await call(i)  # (not ``counter.picks += await``: that reads before the await)
            except grpc.aio.AioRpcError as exc:
                counter.error(exc)
            else:
                counter.picks += picks
            counter.calls += 1
            i += concurrency

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return time.perf_counter() - start


async def unary(target: str, key: str, seconds: float, accounts: int, concurrency: int) -> dict[str, Any]:
    reqs = requests(20_000, accounts)
    md = metadata(key)
    counter = Counter()
    async with grpc.aio.insecure_channel(target) as channel:
        stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
        await stub.SelectSendingIP(reqs[0], metadata=md)

        async def call(i: int) -> int:
            await stub.SelectSendingIP(reqs[i % len(reqs)], metadata=md, timeout=10)
            return 1

        elapsed = await _closed_loop(call, counter, seconds, concurrency)
    return _result("unary", counter, elapsed)


async def batch(target: str, key: str, seconds: float, accounts: int, size: int, concurrency: int) -> dict[str, Any]:
    reqs = requests(20_000, accounts)
    batches = [
        router_pb2.SelectSendingIPBatchRequest(requests=reqs[i : i + size])
        for i in range(0, len(reqs) - size + 1, size)
    ]
    md = metadata(key)
    counter = Counter()
    options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
        await stub.SelectSendingIPBatch(batches[0], metadata=md)

        async def call(i: int) -> int:
            response = await stub.SelectSendingIPBatch(batches[i % len(batches)], metadata=md, timeout=30)
            return len(response.responses)

        elapsed = await _closed_loop(call, counter, seconds, concurrency)
    return _result("batch", counter, elapsed)


async def stream(target: str, key: str, seconds: float, accounts: int, streams: int, window: int) -> dict[str, Any]:
    """``streams`` bidirectional streams, each with up to ``window`` requests in flight."""
    reqs = requests(20_000, accounts)
    md = metadata(key)
    counter = Counter()
    async with grpc.aio.insecure_channel(target) as channel:
        stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
        start = time.perf_counter()
        deadline = start + seconds

        async def one(w: int) -> None:
            slots = asyncio.Semaphore(window)

            async def produce() -> AsyncIterator[router_pb2.SelectSendingIPRequest]:
                i = w
                while time.perf_counter() < deadline:
                    await slots.acquire()
                    yield reqs[i % len(reqs)]
                    i += streams

            call = stub.SelectSendingIPStream(produce(), metadata=md, timeout=seconds + 30)
            try:
                async for _response in call:
                    counter.picks += 1
                    slots.release()
            except grpc.aio.AioRpcError as exc:
                counter.error(exc)
            counter.calls += 1

        await asyncio.gather(*(one(w) for w in range(streams)))
        elapsed = time.perf_counter() - start
    return _result("stream", counter, elapsed)


def _result(mode: str, counter: Counter, elapsed: float) -> dict[str, Any]:
    return {
        "mode": mode,
        "picks": counter.picks,
        "calls": counter.calls,
        "seconds": elapsed,
        "picks_per_second": counter.picks / elapsed if elapsed > 0 else 0.0,
        "errors": counter.errors,
    }


def sequential(target: str, key: str, accounts: int, out: Path) -> dict[str, Any]:
    """One call at a time until stdin closes; ``(time.time(), seconds)`` per call into ``out``."""
    stop = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    reqs = requests(20_000, accounts, tag="s", retry=True)
    md = metadata(key)
    samples: list[tuple[float, float]] = []
    errors = 0
    with grpc.insecure_channel(target) as channel:
        stub = router_pb2_grpc.RouterStub(channel)  # type: ignore[no-untyped-call]
        for r in reqs[:2000]:  # the channel's and the server's first calls
            stub.SelectSendingIP(r, metadata=md, timeout=10)
        print("ready", flush=True)
        i = 0
        while not stop.is_set():
            t0 = time.perf_counter()
            wall = time.time()
            try:
                stub.SelectSendingIP(reqs[i % len(reqs)], metadata=md, timeout=10)
                samples.append((wall, time.perf_counter() - t0))
            except grpc.RpcError:
                errors += 1
            i += 1
    out.write_text("\n".join(f"{w:.6f}\t{s:.7f}" for w, s in samples))
    return {"mode": "sequential", "calls": len(samples), "errors": errors}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["unary", "batch", "stream", "sequential"])
    parser.add_argument("--target", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--accounts", type=int, default=10_000, help="seeded accounts to spread requests over")
    parser.add_argument("--concurrency", type=int, default=0, help="calls in flight (unary 64, batch 4)")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result: dict[str, Any]
    if args.mode == "unary":
        result = uvloop.run(unary(args.target, args.key, args.seconds, args.accounts, args.concurrency or 64))
    elif args.mode == "batch":
        result = uvloop.run(
            batch(args.target, args.key, args.seconds, args.accounts, args.batch, args.concurrency or 4)
        )
    elif args.mode == "stream":
        result = uvloop.run(stream(args.target, args.key, args.seconds, args.accounts, args.streams, args.window))
    else:
        if args.out is None:
            parser.error("sequential needs --out")
        result = sequential(args.target, args.key, args.accounts, args.out)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
