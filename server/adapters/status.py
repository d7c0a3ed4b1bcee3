"""A refusal's gRPC status code as every door besides gRPC writes it: one table, one place.

The HTTP door answers with ``HTTP_STATUS[code]`` and ``{"code": code.name, "message": ...}``;
the line door writes ``ERR <code.name> message``. The mapping is the one Google's HTTP APIs and
grpc-gateway use (google/rpc/code.proto), so a client that knows either reads ours; SPEC §5 fixes
the five codes the router actually answers with (400, 401, 403, 404, 503).
"""

from __future__ import annotations

from http import HTTPStatus

import grpc

_C = grpc.StatusCode

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    _C.OK: 200,
    _C.CANCELLED: 499,
    _C.UNKNOWN: 500,
    _C.INVALID_ARGUMENT: 400,
    _C.DEADLINE_EXCEEDED: 504,
    _C.NOT_FOUND: 404,
    _C.ALREADY_EXISTS: 409,
    _C.PERMISSION_DENIED: 403,
    _C.RESOURCE_EXHAUSTED: 429,
    _C.FAILED_PRECONDITION: 400,
    _C.ABORTED: 409,
    _C.OUT_OF_RANGE: 400,
    _C.UNIMPLEMENTED: 501,
    _C.INTERNAL: 500,
    _C.UNAVAILABLE: 503,
    _C.DATA_LOSS: 500,
    _C.UNAUTHENTICATED: 401,
}


def status_line(status: int) -> bytes:
    """``HTTP/1.1 404 Not Found`` and its CRLF."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:  # 499, grpc-gateway's status for CANCELLED
        phrase = "Client Closed Request"
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode())


def http_status(code: grpc.StatusCode) -> int:
    """The HTTP status a refusal with ``code`` answers with (500 for a code not in the table)."""
    return HTTP_STATUS.get(code, 500)


def code_name(code: grpc.StatusCode) -> str:
    """``INVALID_ARGUMENT``: the name clients see in ``{"code": ...}`` and ``ERR <CODE>``."""
    return code.name
