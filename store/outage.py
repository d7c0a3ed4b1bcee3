"""Logging a PostgreSQL outage as three kinds of line, not one per retry.

Every loop that talks to PostgreSQL retries while it is away, some every fraction of a
second. One warning per attempt (with a traceback, even) buried everything else in the
log during an outage. Instead each loop keeps an ``Outage``: one WARNING with the cause when
the first attempt fails, a summary every ``every`` seconds while it goes on ("still
unreachable for 60s, 23 attempts"), and one INFO line when an attempt succeeds again. The
cause is the exception's text, never its traceback: an unreachable database is an expected
condition, not a bug.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

#: Seconds between two summary lines of one outage.
SUMMARY_EVERY = 60.0


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
