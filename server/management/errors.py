"""Every way a Management call fails, mapped to a gRPC status in one place.

The concern modules raise ``ManagementError`` subclasses with a message naming the field
and the rule broken, or let through the ``RequestError`` of a field rule every door
shares (server/validate.py). Database errors that bad input can cause (a CHECK, a value
out of range) become ``INVALID_ARGUMENT``; a database that cannot be reached is
``UNAVAILABLE`` (the client may retry). Anything else is a bug: ``INTERNAL``, logged with its traceback.
"""

from __future__ import annotations

import logging

import asyncpg
import grpc

from server.validate import RequestError
from store.outage import UNREACHABLE

log = logging.getLogger(__name__)


class ManagementError(Exception):
    code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ManagementError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ManagementError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ManagementError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(ManagementError):
    code = grpc.StatusCode.FAILED_PRECONDITION


#: Answered UNAVAILABLE ("retry later"): PostgreSQL is away, or a statement lost a race
#: that the same call can win on a second try. Narrower than ``DATABASE_UNAVAILABLE``:
#: other server errors are bad input (INVALID_ARGUMENT above) or bugs (INTERNAL).
_UNAVAILABLE = (
    *UNREACHABLE,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)


def status_for(exc: BaseException, method: str) -> tuple[grpc.StatusCode, str]:
    """The status and message a failed call answers with."""
    if isinstance(exc, ManagementError):
        return exc.code, exc.message
    if isinstance(exc, RequestError):  # a field broke one of the rules every door shares
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, asyncpg.CheckViolationError):
        # The schema's CHECKs back up the validation in code (e.g. a policy combination).
        return grpc.StatusCode.INVALID_ARGUMENT, f"rejected by constraint {exc.constraint_name}: {exc.message}"
    if isinstance(exc, asyncpg.DataError):  # out of range, invalid text for a type
        return grpc.StatusCode.INVALID_ARGUMENT, exc.message
    if isinstance(exc, _UNAVAILABLE):
        log.warning("management method=%s database unavailable: %s", method, exc)
        return grpc.StatusCode.UNAVAILABLE, "database unavailable; retry later"
    log.error("management method=%s failed", method, exc_info=exc)
    return grpc.StatusCode.INTERNAL, "internal error; see the server log"
