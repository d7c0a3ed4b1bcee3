"""The follow loop: read lines, count them, report with write-ahead, retry, stop cleanly.

Exactly once across crashes and restarts, by write-ahead (see ``state``): every report is
saved as pending, with the position its lines end at, before it is sent; an OK removes it.
At start a pending report is sent first, with the same ``report_id``: if the crash came
after the server applied it, the server answers OK and applies nothing. A report larger
than the server's batch is several reports, each with its id, saved together.

What the server answers decides what happens to a pending report:

* OK: done, the state is saved without it.
* UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNKNOWN: sent
  again after a backoff (0.5 s doubling to 30 s) until it goes through; meanwhile nothing
  more is read, so the log itself is the buffer and memory stays bounded. With ``once``
  it gives up after a few attempts and exits 1, the report kept for the next run.
* INVALID_ARGUMENT naming ``outcomes[i]``: that item is dropped (logged, counted), the
  state saved, and the rest sent under a new id: one bad item never blocks the others,
  and never loops. A report over the server's batch limit is split. Anything else the
  server refuses as invalid is dropped whole, logged.
* Any other code (UNAUTHENTICATED, PERMISSION_DENIED, …) is the operator's to fix: the
  follower stops with that error, the report kept.

The process's stop event (SIGINT, SIGTERM) ends reading; the lines read so far are
reported, and the follower returns 0, with any report it could not send kept.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cli.follow_postfix.postfix_log import Counts, PostfixLog
from cli.follow_postfix.reader import LogReader
from cli.follow_postfix.state import FollowState, OutcomeRow, Report, StateFile

log = logging.getLogger(__name__)

RETRYABLE = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED", "INTERNAL", "UNKNOWN"})
_ITEM = re.compile(r"\boutcomes\[(\d+)\]")
_BATCH = re.compile(r"\bat most (\d+) per call")
#: Lines read between two looks at the clock and the stop event.
READ_CHUNK = 1000


class SendError(Exception):
    """A refused report; ``code`` is the gRPC status code's name."""

    def __init__(self, code: str, details: str) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details


#: Sends one report; raises SendError when the server does not answer OK.
Send = Callable[[Report], None]
#: Why an outcome row would be refused (None when it is fine): the server's own rule.
Check = Callable[[OutcomeRow], str | None]


@dataclass(frozen=True)
class Settings:
    #: Seconds between two reports while lines come in.
    interval: float = 10.0
    #: A report at the latest after this many lines.
    max_lines: int = 10_000
    #: Most outcomes in one ReportOutcomes (the server's SENDINGIP_ROUTER_MAX_BATCH).
    batch: int = 1000
    #: Read to the end, report, return (tests, cron).
    once: bool = False
    #: Seconds between two looks at a log with nothing new.
    poll: float = 0.5
    #: With ``once``: attempts on a server that does not answer before giving up.
    once_attempts: int = 3
    backoff_first: float = 0.5
    backoff_max: float = 30.0


@dataclass
class _Totals:
    """Since start, for the last line."""

    lines: int = 0
    outcomes: int = 0
    skipped: int = 0


class Follower:
    def __init__(
        self,
        reader: LogReader,
        postfix_log: PostfixLog,
        store: StateFile,
        state: FollowState,
        send: Send,
        settings: Settings,
        stop: threading.Event,
        *,
        check: Check | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.reader = reader
        self.log = postfix_log
        self.store = store
        self.state = state
        self.send = send
        self.settings = settings
        self.stop = stop
        self.check = check
        self.monotonic = monotonic
        self.now = now
        self.batch = settings.batch
        self.totals = _Totals()
        self._lines_since = 0
        self._last_report = monotonic()
        self._attempts = 0
        self._evicted_seen = 0

    def run(self) -> int:
        """Until the stop event (or the end, with ``once``); 0, or 1 when a report stays unsent."""
        if self.state.pending:
            log.info(
                "report_resend pending=%d: saved before the last stop, sent again with the same id(s)",
                len(self.state.pending),
            )
        if not self._deliver():
            return self._unsent()
        while True:
            lines = self.reader.read(READ_CHUNK)
            if lines:
                self.log.clock.set_now(self.now())
                for raw in lines:
                    self.log.feed(raw)
                self._lines_since += len(lines)
            if self.stop.is_set() or (not lines and self.settings.once):
                break
            if self._due() and not self.report():
                return self._unsent()
            if not lines:
                self.stop.wait(self.settings.poll)
        if not self.report():
            return self._unsent()
        log.info(
            "follow_done lines=%d outcomes=%d skipped=%d", self.totals.lines, self.totals.outcomes, self.totals.skipped
        )
        return 0

    def report(self) -> bool:
        """Save what the lines since the last report counted, as pending, and send it."""
        if self._lines_since == 0 and not self.state.pending:
            return True
        tally, counts = self.log.take()
        rows = self._checked([OutcomeRow(key[0], key[1], key[2], key[3], *sums) for key, sums in sorted(tally.items())])
        self.state.position = self.reader.position()
        self.state.queue_ids = self.log.accounts.items()
        self.state.pending += [Report(_new_id(), rows[i : i + self.batch]) for i in range(0, len(rows), self.batch)]
        self.store.save(self.state)  # the write-ahead: from here on, these lines are accounted for
        sent = self._deliver()
        self._progress(counts, rows)
        self.totals.lines += counts.lines
        self.totals.outcomes += len(rows)
        self._lines_since = 0
        self._last_report = self.monotonic()
        return sent

    # -- sending ---------------------------------------------------------------------

    def _deliver(self) -> bool:
        """Send the pending reports in order; False when stopping or giving up (they stay saved)."""
        while self.state.pending:
            report = self.state.pending[0]
            try:
                self.send(report)
            except SendError as err:
                if err.code in RETRYABLE:
                    if not self._wait_to_retry(err):
                        return False
                    continue
                if err.code != "INVALID_ARGUMENT":
                    raise
                self._refused(report, err)
                self.store.save(self.state)
                continue
            self._attempts = 0
            self.state.pending.pop(0)
            self.store.save(self.state)
        return True

    def _wait_to_retry(self, err: SendError) -> bool:
        self._attempts += 1
        s = self.settings
        if s.once and self._attempts >= s.once_attempts:
            log.error("report_failed attempts=%d error=%s", self._attempts, err)
            return False
        delay = min(s.backoff_max, s.backoff_first * 2 ** (self._attempts - 1))
        log.warning("report_retry attempt=%d in=%.1fs error=%s", self._attempts, delay, err)
        return not self.stop.wait(delay)

    def _refused(self, report: Report, err: SendError) -> None:
        """INVALID_ARGUMENT: drop the item it names, or split a report over the limit, or drop it."""
        index = _ITEM.search(err.details)
        limit = _BATCH.search(err.details)
        at = self.state.pending.index(report)
        if index is not None and int(index[1]) < len(report.outcomes):
            row = report.outcomes.pop(int(index[1]))
            self._skip([row], err.details)
            self.state.pending[at] = Report(_new_id(), report.outcomes)
            if not report.outcomes:
                self.state.pending.pop(at)
        elif limit is not None and 0 < int(limit[1]) < len(report.outcomes):
            self.batch = int(limit[1])
            rows = report.outcomes
            log.warning("report_split outcomes=%d batch=%d: %s", len(rows), self.batch, err.details)
            self.state.pending[at : at + 1] = [
                Report(_new_id(), rows[i : i + self.batch]) for i in range(0, len(rows), self.batch)
            ]
        else:
            self._skip(report.outcomes, err.details)
            self.state.pending.pop(at)

    def _checked(self, rows: list[OutcomeRow]) -> list[OutcomeRow]:
        if self.check is None:
            return rows
        kept = []
        for row in rows:
            why = self.check(row)
            if why is None:
                kept.append(row)
            else:
                self._skip([row], why)
        return kept

    def _skip(self, rows: list[OutcomeRow], why: str) -> None:
        for row in rows:
            log.error(
                "outcome_skipped day=%s account=%s ip=%s provider=%s count=%d: %s",
                row.day, row.account_id, row.ip, row.mailbox_provider, row.total(), why,
            )  # fmt: skip
        self.totals.skipped += len(rows)

    # -- pacing and logs -----------------------------------------------------------------

    def _due(self) -> bool:
        if self._lines_since >= self.settings.max_lines:
            return True
        return self._lines_since > 0 and self.monotonic() - self._last_report >= self.settings.interval

    def _unsent(self) -> int:
        log.warning(
            "report_kept pending=%d state=%s: sent again, with the same id, at the next start",
            len(self.state.pending), self.store.path,
        )  # fmt: skip
        return 0 if self.stop.is_set() else 1

    def _progress(self, counts: Counts, rows: list[OutcomeRow]) -> None:
        position = self.state.position
        log.info(
            "report lines=%d outcomes=%d delivered=%d deferred=%d bounced=%d throttled=%d unattributed=%d "
            "skipped=%d pending=%d file=%s offset=%d",
            counts.lines, len(rows), counts.delivered, counts.deferred, counts.bounced, counts.throttled,
            counts.unattributed, self.totals.skipped, len(self.state.pending),
            position.path if position else "-", position.offset if position else 0,
        )  # fmt: skip
        if counts.unattributed:
            log.warning(
                "unattributed deliveries=%d queue_ids=%s: no account known for these queue ids "
                "(SENDINGIP_POSTFIX_ACCOUNT=%s: the account comes from %s); they are not reported",
                counts.unattributed, ",".join(counts.unattributed_examples), self.log.accounts.mode,
                _SOURCE[self.log.accounts.mode],
            )  # fmt: skip
        if counts.undated:
            log.warning("undated deliveries=%d: their timestamp could not be read; not reported", counts.undated)
        evicted = self.log.accounts.evicted
        if evicted > self._evicted_seen:
            log.warning(
                "queue_ids_evicted count=%d limit=%d: the oldest queue ids were forgotten; raise --max-queue-ids "
                "if their deliveries show up as unattributed",
                evicted - self._evicted_seen, self.log.accounts.limit,
            )  # fmt: skip
            self._evicted_seen = evicted


_SOURCE = {
    "sasl_username": "smtpd's 'QID: client=..., sasl_username=NAME' line",
    "sender": "qmgr's 'QID: from=<ADDRESS>' line",
    "sender_domain": "the domain of qmgr's 'QID: from=<ADDRESS>' line",
}


def _new_id() -> str:
    return uuid.uuid4().hex
