"""Method handlers wrapped once, at registration, by the stand-ins for the gRPC server that
``server.app.create_server`` stacks (``decoding.SafeDecoding``, ``admission.Bounded``,
``rpc_metrics.Timed``): each wraps the handlers the generated ``add_*Servicer_to_server``
functions register, in both forms grpc takes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc

if TYPE_CHECKING:  # generic only in grpc's stubs
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
#: ``(handler, full method name) -> the handler to serve instead``.
Wrap = Callable[[Handler, str], Handler]


class WrappedGeneric(grpc.GenericRpcHandler):
    """A generic handler whose method handlers are wrapped (once per method: a call pays a
    dictionary lookup, not a new wrapper)."""

    def __init__(self, inner: grpc.GenericRpcHandler, wrap: Wrap) -> None:
        self.inner = inner
        self.wrap = wrap
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        handler = self.inner.service(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is None or cached[0] is not handler:
            cached = (handler, self.wrap(handler, method))
            self._wrapped[method] = cached
        return cached[1]
