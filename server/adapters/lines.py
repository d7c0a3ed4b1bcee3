"""Framing shared by the two MTA doors: records that end with a separator.

The line protocol's records are lines (``\\n``); a Postfix policy request is ``name=value``
lines ending at an empty line, so its records end with ``\\n\\n``. This module frames them
once and a door says only what a record means. Built for the hot path and for hostile
input alike:

- One ``bytes.split`` per read, not a search or a regex per line, and one
  ``transport.write`` per read carrying every answer of that read, in order: a client
  that pipelines gets its answers in the order it asked, in as few packets as we can.
- Memory is bounded: a record longer than ``max_record`` is reported to the door once
  (``too_long``, whose answer goes out at once, in order) and then dropped as it arrives,
  up to its separator; it is never buffered whole. A partial record is kept in a
  ``bytearray`` and joined with the rest only when its separator has come, so a record
  dribbled in a byte at a time costs linear, not quadratic, time. When the client stops
  reading, the transport's write buffer fills, asyncio calls ``pause_writing`` and we stop
  reading until it drains: a client that sends without reading cannot make answers pile
  up in our memory either.
- A read that leaves part of a record behind restarts the listener's request clock
  (``begin``) for that part only, so a busy pipelined connection whose reads never end on
  a record boundary is never taken for a slow sender.
- Half-close: when the client shuts down its sending side (Exim's ``${readsocket}`` does
  after its request, then reads until EOF), a last record without its separator still
  counts, every answer is written, and the connection closes once they are out.

``LogBudget`` keeps what a door logs about bad input bounded: a flood of malformed
requests costs the log a few lines a minute, not one per request.
"""

from __future__ import annotations

import logging
import time

from server.adapters.listener import Connection


class RecordConnection(Connection):
    #: What ends a record.
    separator = b"\n"
    #: The longest record, in bytes before its separator; longer ones go to ``too_long``.
    max_record = 4096

    def __init__(self) -> None:
        #: The start of a record whose separator has not arrived yet (within ``max_record``).
        self._partial = bytearray()
        #: Dropping the rest of a record that was too long, up to its separator.
        self._discarding = False
        #: While dropping: the last bytes seen, in case the separator straddles two reads.
        self._carry = b""

    # -- what a door defines ------------------------------------------------------

    def records(self, records: list[bytes]) -> bytes:
        """The answers to these complete records (separator removed, each within
        ``max_record``), in order."""
        raise NotImplementedError

    def too_long(self) -> bytes:
        """The answer to a record over ``max_record``; called once per such record."""
        raise NotImplementedError

    # -- asyncio.Protocol ---------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            rest = self._skip(data)
            if rest is None:
                self._send(b"")
                return
            data = rest
        sep, partial = self.separator, self._partial
        if sep in data or (partial and len(sep) > 1 and sep in bytes(partial[1 - len(sep) :]) + data[: len(sep) - 1]):
            if partial:
                data = bytes(partial) + data
                partial.clear()
            records = data.split(sep)
            tail = records.pop()
            out = self._complete(records)
            if tail:
                out += self._hold(tail)
            self._send(out)
        else:
            self._send(self._hold(data))

    def eof_received(self) -> bool:
        """The client sent all it will: a last record without its separator still counts;
        then close (``False``: asyncio closes the transport once every answer is written)."""
        if self._partial and not self._discarding:
            last = bytes(self._partial).rstrip(b"\n")
            self._partial.clear()
            if last:
                self._send(self._complete([last]))
        return False

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def timed_out(self, reason: str) -> None:
        # A client that stopped reading leaves answers in the write buffer, and close()
        # would wait for them to drain for ever: abort instead.
        if self.transport is not None and self.transport.get_write_buffer_size():
            self.transport.abort()
            return
        super().timed_out(reason)

    @property
    def pending(self) -> bool:
        """Part of a record (or of a record being dropped) has arrived without its separator."""
        return bool(self._partial) or self._discarding

    # -- framing ------------------------------------------------------------------

    def _complete(self, records: list[bytes]) -> bytes:
        if not records:
            return b""
        limit = self.max_record
        if max(map(len, records)) <= limit:
            return self.records(records)
        # Rare: a whole over-long record inside one read. Answer around it, in order.
        out: list[bytes] = []
        start = 0
        for i, record in enumerate(records):
            if len(record) > limit:
                out += (self.records(records[start:i]) if i > start else b"", self.too_long())
                start = i + 1
        out.append(self.records(records[start:]) if start < len(records) else b"")
        return b"".join(out)

    def _hold(self, data: bytes) -> bytes:
        """Keeps the start of a record until its separator comes; one over the bound is dropped."""
        if len(self._partial) + len(data) > self.max_record:
            self._partial.clear()
            self._discarding = True
            self._carry = data[1 - len(self.separator) :] if len(self.separator) > 1 else b""
            return self.too_long()
        self._partial += data
        return b""

    def _skip(self, data: bytes) -> bytes | None:
        """While dropping a record: what follows its separator, or ``None`` if it has not come."""
        sep = self.separator
        probe = self._carry + data if self._carry else data
        end = probe.find(sep)
        if end < 0:
            self._carry = probe[1 - len(sep) :] if len(sep) > 1 else b""
            return None
        self._discarding = False
        self._carry = b""
        return probe[end + len(sep) :]

    def _send(self, out: bytes) -> None:
        if out and self.transport is not None:
            self.transport.write(out)
            self.end()
        if self.pending:
            self.begin()
        elif not out:
            self.end()


class LogBudget:
    """At most ``burst`` lines per ``period`` seconds; the lines held back are counted and
    the count rides on the next line that is logged."""

    def __init__(self, logger: logging.Logger, *, burst: int = 20, period: float = 60.0) -> None:
        self.logger = logger
        self.burst = burst
        self.period = period
        self._window = 0.0
        self._used = 0
        self.suppressed = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._window >= self.period:
            self._window = now
            self._used = 0
        if self._used >= self.burst:
            self.suppressed += 1
            return
        self._used += 1
        if self.suppressed:
            message += " (%d similar lines not logged)"
            args = (*args, self.suppressed)
            self.suppressed = 0
        self.logger.warning(message, *args)
