"""The stand-in for ``grpc.aio.ServicerContext`` that lets a door call a servicer as it is.

A servicer reads the caller's metadata and aborts with a status; through this context the
metadata is the door's (a bearer key, or the console's session) and an abort raises
``Refusal``, which each door writes in its own protocol. Shared by the HTTP door and the web
console, so that neither copies the other.
"""

from __future__ import annotations

from typing import NoReturn, cast

import grpc

from server.authz import Metadata
from server.refusal import Refusal


class _Context:
    """The part of ``grpc.aio.ServicerContext`` the servicers use: they run unchanged."""

    __slots__ = ("_metadata",)

    def __init__(self, metadata: Metadata) -> None:
        self._metadata = metadata

    def invocation_metadata(self) -> Metadata:
        return self._metadata

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: object = ()) -> NoReturn:
        raise Refusal(code, details)


def servicer_context(metadata: Metadata) -> grpc.aio.ServicerContext[object, object]:
    return cast("grpc.aio.ServicerContext[object, object]", _Context(metadata))
