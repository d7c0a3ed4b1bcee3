"""How long, and how many, calls may wait for their request on the gRPC port.

grpc.aio starts a call as soon as its HEADERS arrive, then waits for the request message
with no limit of its own: 100,000 such half-open streams held 822 MB, never given back
(issue 13). grpc core bounds connections, streams per connection and idle or aged
connections (``server.app.channel_options``); this module bounds the rest:

- Every method with a single request is registered as a request-streaming one, so that
  its handler runs at the HEADERS and reads the request itself, within ``request_timeout``
  seconds (else DEADLINE_EXCEEDED).
- At most ``max_waiting`` calls wait for their request at once; one more makes the call
  that has waited longest give up (RESOURCE_EXHAUSTED). A legitimate client's message
  follows its headers at once, so a flood of half-open streams evicts its own streams, not
  the picks. (Refusing the newcomer instead would let the flood keep every pick out.)
- The services that need no key (health ``Watch``, reflection) hold at most
  ``max_keyless_streams`` streams, so an anonymous client cannot fill the server's
  ``maximum_concurrent_rpcs`` with streams that never end.

Streams of the services that need a key are not timed before their first message: an MTA
may open its stream before it has mail. Their key is checked when they open, so only a
caller with a valid key can hold one (``server.router.servicer``).

Handlers are wrapped once, at registration (like ``server.decoding``); a call pays one
``asyncio.timeout`` and two dictionary operations.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, NoReturn

import grpc

from server.decoding import each_response
from server.handler_wrap import WrappedGeneric

log = logging.getLogger(__name__)

#: Services any caller may use without a key (``server.app`` registers them).
KEYLESS_SERVICES = frozenset({"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"})

Context = grpc.aio.ServicerContext[Any, Any]


class Admission:
    """The bounds one server shares across its calls (see the module docstring)."""

    def __init__(self, request_timeout: float, max_waiting: int, max_keyless_streams: int) -> None:
        self.request_timeout = request_timeout
        self.max_waiting = max_waiting
        self.max_keyless_streams = max_keyless_streams
        #: Calls waiting for their request, oldest first, by their timer.
        self._waiting: OrderedDict[asyncio.Timeout, None] = OrderedDict()
        self._evicted: set[asyncio.Timeout] = set()
        self.keyless_streams = 0
        #: Totals since start, for the log and the tests.
        self.timed_out = 0
        self.evictions = 0
        self.refused_streams = 0

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def first(self, context: Context) -> Any:
        """The call's request, once it has arrived whole, within the bounds.

        ``context.read()``, not the request iterator grpc passes: that is an async
        generator, which costs more to make and to cancel, and this reads one message."""
        waiting = self._waiting
        try:
            async with asyncio.timeout(self.request_timeout) as timer:
                if len(waiting) >= self.max_waiting:
                    self._evict_oldest()
                waiting[timer] = None
                try:
                    request = await context.read()
                finally:
                    waiting.pop(timer, None)  # gone already when it was evicted
        except TimeoutError:
            await self._gave_up(timer, context)
        finally:
            self._evicted.discard(timer)
        if request is grpc.aio.EOF:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the call ended without a request message")
        return request

    def _evict_oldest(self) -> None:
        oldest, _ = self._waiting.popitem(last=False)
        if oldest.expired():
            return  # its own time is up already: it is on its way out
        self._evicted.add(oldest)
        oldest.reschedule(asyncio.get_running_loop().time())
        self.evictions += 1
        # A flood would fill the log with one line per call: the first, then every 10,000th.
        if self.evictions == 1 or self.evictions % 10_000 == 0:
            log.warning(
                "grpc: %d calls waiting for their request, the most allowed; closed the one waiting longest "
                "(closed so far: %d; SENDINGIP_GRPC_MAX_WAITING_REQUESTS)",
                self.max_waiting,
                self.evictions,
            )

    async def _gave_up(self, timer: asyncio.Timeout, context: Context) -> NoReturn:
        if timer in self._evicted:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"too many calls are waiting for their request (most {self.max_waiting}); send the request "
                "with its headers, or retry",
            )
        self.timed_out += 1
        if self.timed_out == 1 or self.timed_out % 10_000 == 0:
            log.warning(
                "grpc: a call's request did not arrive within %gs; closed it (closed so far: %d)",
                self.request_timeout,
                self.timed_out,
            )
        await context.abort(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"the request did not arrive within {self.request_timeout:g}s of the call's headers",
        )

    async def open_keyless_stream(self, context: Context) -> None:
        if self.keyless_streams >= self.max_keyless_streams:
            self.refused_streams += 1
            if self.refused_streams == 1 or self.refused_streams % 1000 == 0:
                log.warning(
                    "grpc: %d streams without a key open, the most allowed; refused one (refused so far: %d; "
                    "SENDINGIP_GRPC_MAX_KEYLESS_STREAMS)",
                    self.keyless_streams,
                    self.refused_streams,
                )
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{self.keyless_streams} health or reflection streams are open, the most allowed; retry later",
            )
        self.keyless_streams += 1

    # -- wrapping the method handlers ------------------------------------------------

    def wrap(self, handler: grpc.RpcMethodHandler[Any, Any], service: str) -> grpc.RpcMethodHandler[Any, Any]:
        """``handler`` as a request-streaming handler bounded as the module docstring says."""
        keyless = service in KEYLESS_SERVICES
        deserialize, serialize = handler.request_deserializer, handler.response_serializer
        behaviour: Any
        if not handler.request_streaming and not handler.response_streaming:
            behaviour = handler.unary_unary
            return grpc.stream_unary_rpc_method_handler(self._unary_unary(behaviour), deserialize, serialize)
        if not handler.request_streaming:
            behaviour = handler.unary_stream
            return grpc.stream_stream_rpc_method_handler(
                self._unary_stream(behaviour, keyless=keyless), deserialize, serialize
            )
        if keyless:
            if handler.response_streaming:
                behaviour = handler.stream_stream
                return grpc.stream_stream_rpc_method_handler(self._counted(behaviour), deserialize, serialize)
            behaviour = handler.stream_unary
            return grpc.stream_unary_rpc_method_handler(self._counted_unary(behaviour), deserialize, serialize)
        return handler

    def _unary_unary(self, behaviour: Any) -> Any:
        first = self.first

        async def unary_unary(_requests: AsyncIterator[Any], context: Context) -> Any:
            return await behaviour(await first(context), context)

        return unary_unary

    def _unary_stream(self, behaviour: Any, *, keyless: bool) -> Any:
        first = self.first
        admission = self

        async def unary_stream(_requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
            request = await first(context)
            if not keyless:
                async for response in each_response(behaviour(request, context)):
                    yield response
                return
            await admission.open_keyless_stream(context)
            try:
                async for response in each_response(behaviour(request, context)):
                    yield response
            finally:
                admission.keyless_streams -= 1

        return unary_stream

    def _counted(self, behaviour: Any) -> Any:
        admission = self

        async def stream_stream(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
            await admission.open_keyless_stream(context)
            try:
                async for response in each_response(behaviour(requests, context)):
                    yield response
            finally:
                admission.keyless_streams -= 1

        return stream_stream

    def _counted_unary(self, behaviour: Any) -> Any:
        admission = self

        async def stream_unary(requests: AsyncIterator[Any], context: Context) -> Any:
            await admission.open_keyless_stream(context)
            try:
                return await behaviour(requests, context)
            finally:
                admission.keyless_streams -= 1

        return stream_unary


class Bounded:
    """Stands in for the server while the services register (as ``SafeDecoding`` does)."""

    def __init__(self, server: grpc.aio.Server, admission: Admission) -> None:
        self.server = server
        self.admission = admission

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self.server.add_generic_rpc_handlers(tuple(WrappedGeneric(h, self._wrap) for h in handlers))

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        self.server.add_registered_method_handlers(
            service, {name: self.admission.wrap(h, service) for name, h in handlers.items()}
        )

    def _wrap(self, handler: grpc.RpcMethodHandler[Any, Any], method: str) -> grpc.RpcMethodHandler[Any, Any]:
        return self.admission.wrap(handler, method.lstrip("/").partition("/")[0])
