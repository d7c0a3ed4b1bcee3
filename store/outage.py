"""Logging a PostgreSQL outage as three kinds of line, not one per retry.

Every loop that talks to PostgreSQL retries while it is away, some every fraction of a
second. One warning per attempt (with a traceback, even) buried everything else in the
log during an outage. Instead each loop keeps an ``Outage``: one WARNING with the cause when
the first attempt fails, a summary every ``every`` seconds while it goes on ("still
unreachable for 60s, 23 attempts"), and one INFO line when an attempt succeeds again. The
cause is the exception's text, never its traceback: an unreachable database is an expected
condition, not a bug.

The exceptions that count as "PostgreSQL is away" are listed here once as well
(``DATABASE_UNAVAILABLE`` and the narrower ``UNREACHABLE`` and ``CANNOT_CONNECT``), so
every loop, the CLI and Management agree on what an outage is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import asyncpg

#: Seconds between two summary lines of one outage.
SUMMARY_EVERY = 60.0

#: What a loop that talks to PostgreSQL catches and retries: PostgreSQL may be away or
#: restarting, or a statement failed on the server side. The network (``OSError``;
#: ``TimeoutError``, from ``asyncio.timeout``, is one and is named for the reader), any
#: error PostgreSQL sends (``PostgresError``: shutting down, refusing connections, a lock
#: or statement timeout, a query cancelled) and asyncpg's own (``InterfaceError``: the
#: connection closed under the caller). Anything else is a bug in our code and must
#: surface, not be retried for ever. Callers that need fewer or more derive from this
#: module: the router's history writer adds ``InternalClientError``; Management and the
#: rebalancer tell "unreachable" (``UNREACHABLE``) from "this statement failed".
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)
#: Connecting failed: the network, PostgreSQL refusing the connection (SQLSTATE class 08)
#: or not accepting any yet (starting up or shutting down, 57P03). Nothing about what a
#: statement would have done: a start-up step skipped on these is worth retrying later.
CANNOT_CONNECT: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
)
#: An open connection ended under the caller: asyncpg closed it, or PostgreSQL ended the
#: session (administrator shutdown 57P01, crash of another backend 57P02).
CONNECTION_LOST: tuple[type[Exception], ...] = (
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)
#: PostgreSQL is away, as opposed to one statement failing: a subset of
#: ``DATABASE_UNAVAILABLE`` for callers that treat the two differently.
UNREACHABLE: tuple[type[Exception], ...] = CANNOT_CONNECT + CONNECTION_LOST


def cause(exc: BaseException) -> str:
    """One line naming the failure: the exception's text, or its type when it has none."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Outage:
    """The failures of one loop (``what``) since its last success."""

    def __init__(
        self,
        log: logging.Logger,
        what: str,
        *,
        every: float = SUMMARY_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.what = what
        self.every = every
        self.clock = clock
        #: Failed attempts of the outage in progress (0 when there is none).
        self.attempts = 0
        self._since = 0.0
        self._next_summary = 0.0

    @property
    def down(self) -> bool:
        return self.attempts > 0

    @property
    def seconds(self) -> float:
        """How long the outage in progress has lasted (0 when there is none)."""
        return self.clock() - self._since if self.down else 0.0

    def failed(self, exc: BaseException, doing: str = "retrying") -> None:
        """An attempt failed: a line at the first one, then one summary every ``every`` seconds."""
        now = self.clock()
        self.attempts += 1
        if self.attempts == 1:
            self._since = now
            self._next_summary = now + self.every
            self.log.warning(
                "%s: PostgreSQL unreachable (%s); %s, a summary every %.0fs until it answers",
                self.what,
                cause(exc),
                doing,
                self.every,
            )
        elif now >= self._next_summary:
            self._next_summary = now + self.every
            self.log.warning(
                "%s: PostgreSQL still unreachable for %.0fs, %d attempts; last: %s",
                self.what,
                now - self._since,
                self.attempts,
                cause(exc),
            )

    def recovered(self) -> bool:
        """An attempt succeeded: one line if an outage was in progress. True when one was."""
        if not self.down:
            return False
        self.log.info(
            "%s: PostgreSQL answers again after %.1fs, %d failed attempts", self.what, self.seconds, self.attempts
        )
        self.attempts = 0
        return True
