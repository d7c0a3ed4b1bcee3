"""Requests that are not valid protobuf answer ``INVALID_ARGUMENT``, not ``UNKNOWN``.

grpc.aio deserializes a request before the servicer runs; when the generated
``FromString`` raises, grpc answers ``UNKNOWN`` with the exception's text and logs a
traceback — for bytes any client can send (SPEC §3: never UNKNOWN for bad input).
``SafeDecoding`` stands in for the server while the services register: every method
handler gets a deserializer that returns a ``Malformed`` marker instead of raising, and
a behaviour that aborts with ``INVALID_ARGUMENT`` when it receives one. The wrapping
happens once, at registration; a call pays one ``is`` test per message.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from server.handler_wrap import WrappedGeneric

log = logging.getLogger(__name__)


class Malformed:
    """What a request that could not be parsed deserializes to."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _deserializer(inner: Callable[[bytes], Any], method: str) -> Callable[[bytes], Any]:
    def deserialize(raw: bytes) -> Any:
        try:
            return inner(raw)
        except (DecodeError, ValueError, TypeError):
            return Malformed(f"the request is not a valid message for {method} ({len(raw)} bytes could not be parsed)")

    return deserialize


async def each_response(result: Any) -> AsyncIterator[Any]:
    """What a response-streaming behaviour sends: it is an async generator, or a coroutine
    that writes with ``context.write`` (grpc's health ``Watch``) and has sent all once awaited."""
    if inspect.isawaitable(result):
        await result
        return
    async for response in result:
        yield response


def _checked_iterator(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
    async def checked() -> AsyncIterator[Any]:
        async for request in requests:
            if request.__class__ is Malformed:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
            yield request

    return checked()


def safe_handler(handler: grpc.RpcMethodHandler[Any, Any], method: str) -> grpc.RpcMethodHandler[Any, Any]:
    """``handler`` with a deserializer that cannot raise (see the module docstring)."""
    if handler.request_deserializer is None:
        return handler  # raw bytes in: nothing to parse
    deserialize = _deserializer(handler.request_deserializer, method)
    serialize = handler.response_serializer
    if not handler.request_streaming:
        # The stubs type behaviours as synchronous; ours (and grpc.aio's) are coroutines.
        behaviour: Any = handler.unary_stream if handler.response_streaming else handler.unary_unary
        assert behaviour is not None

        if handler.response_streaming:

            async def unary_stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
                if request.__class__ is Malformed:
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
                async for response in each_response(behaviour(request, context)):
                    yield response

            return grpc.unary_stream_rpc_method_handler(unary_stream, deserialize, serialize)

        async def unary_unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            if request.__class__ is Malformed:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
            return await behaviour(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_unary, deserialize, serialize)

    if handler.response_streaming:
        streamer: Any = handler.stream_stream
        assert streamer is not None

        # grpc.aio serves a stream only from an async generator function.
        async def stream_stream(
            requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            async for response in each_response(streamer(_checked_iterator(requests, context), context)):
                yield response

        return grpc.stream_stream_rpc_method_handler(stream_stream, deserialize, serialize)

    unary_response: Any = handler.stream_unary
    assert unary_response is not None

    async def stream_unary(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        return await unary_response(_checked_iterator(requests, context), context)

    return grpc.stream_unary_rpc_method_handler(stream_unary, deserialize, serialize)


class SafeDecoding:
    """Pass it to the generated ``add_*Servicer_to_server`` functions in place of the server."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self.server = server

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self.server.add_generic_rpc_handlers(tuple(WrappedGeneric(h, safe_handler) for h in handlers))

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        self.server.add_registered_method_handlers(
            service, {name: safe_handler(h, f"/{service}/{name}") for name, h in handlers.items()}
        )
