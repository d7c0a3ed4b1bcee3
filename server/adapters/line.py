"""The line-protocol door (SPEC §5), for Exim's ``${readsocket}`` and any MTA that can
write a line to a socket and read one back.

One request per line, one answer per line, in order::

    SELECT <account_id> <message_id> <recipient_domain> [<region>]    ->  <ip>
    RESELECT ...  (the same, as a retry: answered, not counted again)   ->  <ip>
    anything else                                                      ->  ERR <CODE> <message>

Fields are separated by spaces or tabs (so none may hold whitespace: message ids do
not); the verb is case-insensitive; a line ends with ``\n``, and a ``\r`` before it is
ignored. ``CODE`` is the gRPC status name (``INVALID_ARGUMENT``, ``PERMISSION_DENIED``,
``UNAVAILABLE``, ...): the refusal ``Picker`` raises, unchanged, so the line door refuses
exactly what gRPC refuses, with the same message. Every line gets exactly one answer,
a blank or garbled one included, so a pipelining client can never fall out of step; a
bad line never closes the connection. The door acts with ``SENDINGIP_ADAPTER_KEY``'s
permissions and account scope (the protocol carries no key).

Exim sends its request and then half-closes (or waits): the answer is written as soon as
the line is complete, and after a half-close the connection closes once every answer is
out, which is what ends Exim's read (``server/adapters/lines.py``).

Per line the work is one decode, one ``split`` and the pick: no regex, no per-line
allocation beyond the request tuple and the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import grpc

from server.adapters.deps import Deps
from server.adapters.lines import RecordConnection
from server.adapters.listener import Connection
from server.authz import Metadata
from server.refusal import Refusal
from server.router.engine import Answer
from server.validate import SelectRequest

#: The longest request line, in bytes; a longer one is answered ERR and dropped.
MAX_LINE = 4096
_VERBS = {"SELECT": False, "RESELECT": True}
_USAGE = "expected SELECT|RESELECT <account_id> <message_id> <recipient_domain> [<region>]"

Select = Callable[[Metadata | None, SelectRequest], Answer]


class LineRequest(NamedTuple):
    """A SelectSendingIPRequest as one line gives it (``validate.SelectRequest``)."""

    account_id: str
    message_id: str
    recipient_domain: str
    mailbox_provider: str
    region: str
    retry: bool


def error(code: grpc.StatusCode, message: str) -> bytes:
    """``ERR CODE message``: one line, whatever the message holds."""
    return f"ERR {code.name} {message}".replace("\n", " ").replace("\r", " ").encode("utf-8", "replace") + b"\n"


_NOT_UTF8 = error(grpc.StatusCode.INVALID_ARGUMENT, f"the line is not UTF-8; {_USAGE}")
_BLANK = error(grpc.StatusCode.INVALID_ARGUMENT, f"empty line; {_USAGE}")
_TOO_LONG = error(grpc.StatusCode.INVALID_ARGUMENT, f"line longer than {MAX_LINE} bytes; {_USAGE}")


def parse(line: bytes) -> LineRequest | bytes:
    """The request a line holds, or the ``ERR`` answer saying what is wrong with it."""
    try:
        fields = line.decode("utf-8").split()  # any whitespace; a trailing \r too
    except UnicodeDecodeError:
        return _NOT_UTF8
    n = len(fields)
    if not n:
        return _BLANK
    verb = fields[0]
    retry = _VERBS.get(verb)
    if retry is None:
        retry = _VERBS.get(verb.upper())
        if retry is None:
            shown = verb if len(verb) <= 32 else verb[:32] + "..."
            return error(grpc.StatusCode.INVALID_ARGUMENT, f"unknown command {shown!r}; {_USAGE}")
    if n == 4:
        return LineRequest(fields[1], fields[2], fields[3], "", "", retry)
    if n == 5:
        return LineRequest(fields[1], fields[2], fields[3], "", fields[4], retry)
    return error(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"{verb.upper()} takes 3 or 4 fields, got {n - 1}: <account_id> <message_id> <recipient_domain> [<region>]",
    )


class LineDoorConnection(RecordConnection):
    separator = b"\n"
    max_record = MAX_LINE

    def __init__(self, select: Select, metadata: Metadata) -> None:
        super().__init__()
        self.select = select
        self.metadata = metadata

    def records(self, lines: list[bytes]) -> bytes:
        select, metadata = self.select, self.metadata
        out = []
        for line in lines:
            request = parse(line)
            if isinstance(request, bytes):
                out.append(request)
                continue
            try:
                out.append(select(metadata, request).ip.encode() + b"\n")
            except Refusal as r:
                out.append(error(r.code, r.message))
        return b"".join(out)

    def too_long(self) -> bytes:
        return _TOO_LONG

    def timed_out(self, reason: str) -> None:
        if self.pending and self.transport is not None and not self.transport.get_write_buffer_size():
            self.transport.write(error(grpc.StatusCode.DEADLINE_EXCEEDED, reason))
        super().timed_out(reason)


def door(deps: Deps) -> Callable[[], Connection]:
    select, metadata = deps.picker.select, tuple(deps.adapter_metadata)
    return lambda: LineDoorConnection(select, metadata)
