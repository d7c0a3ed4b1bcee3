"""How long each gRPC method takes to answer, as Prometheus histograms.

``Timed`` stands in for the server while the services register (as ``server.decoding``
and ``server.admission`` do) and wraps each single-response handler once, at
registration: a call then pays two ``perf_counter`` reads, a bisection over the bucket
bounds and two additions, on plain lists (no lock, no allocation: one event loop thread
per process). The time runs from the request in hand to the response returned (or the
call's error), so a client slow to send its request does not count; streams answering
many messages are not timed (a stream's lifetime is not a latency).

``RpcCollector`` reads the counts when Prometheus scrapes. They only grow, like a
counter's, so a cluster's parent sums its members' histograms bucket by bucket
(``server/cluster_metrics.py``).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import grpc
from prometheus_client.core import HistogramMetricFamily

from server.handler_wrap import WrappedGeneric

#: Upper bounds in seconds: a pick answers in well under a millisecond, an admin call in
#: milliseconds, a large ImportHistory or ListIPs page in up to seconds.
BUCKETS: tuple[float, ...] = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
METRIC = "sendingip_grpc_server_handling_seconds"


class MethodLatency:
    """One method's histogram: a count per bucket (the last one past every bound) and the sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds


class Latencies:
    """Every timed method's histogram, by its full name (``/sendingip.v1.Router/SelectSendingIP``)."""

    def __init__(self) -> None:
        self.methods: dict[str, MethodLatency] = {}

    def method(self, name: str) -> MethodLatency:
        return self.methods.setdefault(name, MethodLatency())


class RpcCollector:
    def __init__(self, latencies: Latencies) -> None:
        self.latencies = latencies

    def collect(self) -> Iterator[Any]:
        family = HistogramMetricFamily(
            METRIC, "Seconds from a call's request to its response, by gRPC method", labels=["method"]
        )
        for name, latency in sorted(self.latencies.methods.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*BUCKETS, float("inf")), latency.counts, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            family.add_metric([name], buckets, latency.total)
        yield family


def timed_handler(handler: grpc.RpcMethodHandler[Any, Any], latency: MethodLatency) -> grpc.RpcMethodHandler[Any, Any]:
    """``handler`` timed into ``latency`` when it answers with one message; else as it is."""
    if handler.response_streaming:
        return handler
    clock, observe = time.perf_counter, latency.observe
    deserialize, serialize = handler.request_deserializer, handler.response_serializer
    # The stubs type behaviours as synchronous; ours (and grpc.aio's) are coroutines.
    behaviour: Any
    if handler.request_streaming:
        behaviour = handler.stream_unary

        async def stream_unary(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started = clock()
            try:
                return await behaviour(requests, context)
            finally:
                observe(clock() - started)

        return grpc.stream_unary_rpc_method_handler(stream_unary, deserialize, serialize)
    behaviour = handler.unary_unary

    async def unary_unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        started = clock()
        try:
            return await behaviour(request, context)
        finally:
            observe(clock() - started)

    return grpc.unary_unary_rpc_method_handler(unary_unary, deserialize, serialize)


class Timed:
    """Pass it to the generated ``add_*Servicer_to_server`` functions in place of the server."""

    def __init__(self, server: Any, latencies: Latencies) -> None:
        self.server = server
        self.latencies = latencies

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self.server.add_generic_rpc_handlers(tuple(WrappedGeneric(h, self._timed) for h in handlers))

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        self.server.add_registered_method_handlers(
            service,
            {name: self._timed(h, f"/{service}/{name}") for name, h in handlers.items()},
        )

    def _timed(self, handler: grpc.RpcMethodHandler[Any, Any], method: str) -> grpc.RpcMethodHandler[Any, Any]:
        return timed_handler(handler, self.latencies.method(method))
