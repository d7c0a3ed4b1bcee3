"""The Postfix policy door (SPEC §5): SMTPD_POLICY_README's protocol, for
``smtpd_end_of_data_restrictions = check_policy_service inet:HOST:PORT``.

A request is ``name=value`` lines ending at an empty line; the answer is ``action=...``
and an empty line. At ``protocol_state=END-OF-MESSAGE`` the door picks an IP and answers
``action=FILTER sendingip_<ip>:`` (``postfix_names.transport_for``), which sends the whole
message through the transport bound to that IP (``sendingip postfix master-cf``); in any
other state it answers ``action=DUNNO``. Requests may be pipelined; they are answered in
order, and a bad one never closes the connection.

What the request is made of:
- the account: the attribute ``SENDINGIP_POSTFIX_ACCOUNT`` names: ``sasl_username`` (the
  default), ``sender`` (the whole address) or ``sender_domain`` (the domain part of
  ``sender``, lower-cased: Postfix sends no such attribute);
- the message id: ``queue_id``;
- the recipient domain: that of ``recipient``. Postfix sends ``recipient`` at
  END-OF-MESSAGE only when the message has exactly one recipient. With several (or none)
  there is no one domain to classify, and one FILTER applies to the whole message
  anyway: such a message is routed as mailbox provider ``other``.

A request is framed whole (``server/adapters/lines.py``: up to its empty line, at most
64 KiB) and the four attributes used are searched for in it, not every line parsed; only
their values are decoded, so a non-UTF-8 value elsewhere (a client name, say) is no
error. Lines end with ``\n`` as Postfix writes them.

What goes wrong, and the answer chosen:
- The client's own fault (a line without ``=``, a value used that is not UTF-8, no
  account attribute, an account id or queue id the picker refuses as INVALID_ARGUMENT, a
  request over 64 KiB or over 256 attributes): ``action=DUNNO`` and a log line saying
  why. Postfix then delivers the message the way it would without sendingip. Rejecting
  or deferring the message for input sendingip cannot use would stop mail that never
  meant to go through sendingip (for example unauthenticated mail with no
  ``sasl_username``). The log lines are bounded (``LogBudget``).
- Not the client's fault (UNAVAILABLE: no routing table yet; FAILED_PRECONDITION: the
  region has no general pool; UNAUTHENTICATED or PERMISSION_DENIED: the adapter key is
  revoked, lacks ``route`` or is limited to other accounts): ``action=DEFER_IF_PERMIT
  <reason>``. The message is meant for sendingip, and DUNNO would send it from an IP
  sendingip did not choose (ruining an IP's warm-up or a dedicated pool's isolation);
  DEFER_IF_PERMIT makes Postfix answer the client 450 4.7.1, so the mail is retried
  later, unless a later restriction rejects it anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import grpc

from server.adapters.deps import Deps
from server.adapters.line import LineRequest, Select
from server.adapters.lines import LogBudget, RecordConnection
from server.adapters.listener import Connection
from server.adapters.postfix_names import account_of, transport_for
from server.authz import Metadata
from server.refusal import Refusal

log = logging.getLogger(__name__)

#: The most bytes one request may hold (before its empty line), and the most attributes.
#: Postfix 3.7 sends about 35 attributes and rarely 2 KiB.
MAX_REQUEST = 64 * 1024
MAX_ATTRIBUTES = 256

DUNNO = b"action=DUNNO\n\n"
_END_OF_MESSAGE = b"END-OF-MESSAGE"
#: Every byte but ``=`` and newline, deleted to leave a request's skeleton (``malformed``).
_NOT_FRAMING = bytes(b for b in range(256) if b not in b"=\n")


def defer(reason: str) -> bytes:
    text = reason.replace("\n", " ").replace("\r", " ")
    return f"action=DEFER_IF_PERMIT sendingip: {text}\n\n".encode("utf-8", "replace")


def shown(value: bytes | str, limit: int = 64) -> str:
    """A client's value, safe for a log line (quoted, escaped, cut short)."""
    text = value if isinstance(value, str) else value.decode("utf-8", "backslashreplace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def attribute(request: bytes, name: bytes) -> bytes | None:
    """The value of attribute ``name`` (given as ``b"\\nname="``) in a request, the first
    if it is there twice; ``None`` when it is absent. A search in C, not a parse of
    every line: the door reads 4 of Postfix's ~35 attributes."""
    if request.startswith(name[1:]):
        start = len(name) - 1
    else:
        found = request.find(name)
        if found < 0:
            return None
        start = found + len(name)
    end = request.find(b"\n", start)
    return request[start:] if end < 0 else request[start:end]


def malformed(request: bytes) -> str:
    """What is wrong with a request's framing, or ``""``: every line must be ``name=value``.

    Checked on the request's skeleton, its ``=`` and newline bytes in order (one
    ``translate`` in C, half the cost of splitting it into lines): a line without ``=``
    shows as a newline first, last or right after another."""
    skeleton = request.translate(None, _NOT_FRAMING)
    n = skeleton.count(b"\n") + 1
    if n > MAX_ATTRIBUTES:
        return f"a request of over {MAX_ATTRIBUTES} attributes ({n})"
    if skeleton[:1] != b"=" or skeleton[-1:] == b"\n" or b"\n\n" in skeleton:
        bad = next(line for line in request.split(b"\n") if b"=" not in line)
        return f"a line without '=': {shown(bad)}"
    return ""


class PolicyConnection(RecordConnection):
    separator = b"\n\n"
    max_record = MAX_REQUEST

    def __init__(self, select: Select, metadata: Metadata, mode: str, budget: LogBudget) -> None:
        super().__init__()
        self.select = select
        self.metadata = metadata
        self.mode = mode
        self.budget = budget
        #: ``sender_domain`` is read from ``sender``.
        self.account_attr = b"\n" + (b"sender" if mode == "sender_domain" else mode.encode()) + b"="

    def records(self, records: list[bytes]) -> bytes:
        out = []
        for request in records:
            if request[:1] == b"\n":
                # Empty lines before a request: a blank request, which Postfix never sends; skipped.
                request = request.lstrip(b"\n")
            if request:
                out.append(self.answer(request))
        return b"".join(out)

    def too_long(self) -> bytes:
        self._refused("DUNNO", f"a request over {MAX_REQUEST // 1024} KiB", b"")
        return DUNNO

    def answer(self, request: bytes) -> bytes:
        wrong = malformed(request)
        if wrong:
            self._refused("DUNNO", wrong, request)
            return DUNNO
        if attribute(request, b"\nprotocol_state=") != _END_OF_MESSAGE:
            return DUNNO
        return self._route(request)

    def _route(self, request: bytes) -> bytes:
        try:
            account = (attribute(request, self.account_attr) or b"").decode()
            queue_id = (attribute(request, b"\nqueue_id=") or b"").decode()
            recipient = (attribute(request, b"\nrecipient=") or b"").decode()
        except UnicodeDecodeError:
            self._refused("DUNNO", "a value that is not UTF-8", request)
            return DUNNO
        account = account_of(self.mode, account) or ""
        if not account:
            self._refused("DUNNO", f"no account: the request has no {self.mode} (SENDINGIP_POSTFIX_ACCOUNT)", request)
            return DUNNO
        domain = recipient.rpartition("@")[2] if "@" in recipient else ""
        # No single recipient (Postfix sends one only when there is exactly one): no domain
        # to classify, and the FILTER covers every recipient, so route as provider "other".
        pick = LineRequest(account, queue_id, domain, "" if domain else "other", "", False)
        try:
            return b"action=FILTER " + transport_for(self.select(self.metadata, pick).ip).encode() + b":\n\n"
        except Refusal as r:
            if r.code == grpc.StatusCode.INVALID_ARGUMENT:
                self._refused("DUNNO", self._in_postfix_terms(r.message), request)
                return DUNNO
            self._refused("DEFER_IF_PERMIT", f"{r.code.name}: {r.message}", request)
            return defer(f"{r.code.name}: {r.message}")

    def _in_postfix_terms(self, message: str) -> str:
        """The picker's message with the field named as Postfix sent it."""
        field, sep, rule = message.partition(": ")
        name = {"account_id": self.mode, "message_id": "queue_id", "recipient_domain": "recipient"}.get(field)
        return f"{name} ({field}){sep}{rule}" if name else message

    def _refused(self, action: str, why: str, request: bytes) -> None:
        self.budget.warning(
            "postfix door: answered %s peer=%s queue_id=%s account=%s: %s",
            action,
            self.peer,
            shown(attribute(request, b"\nqueue_id=") or b"", 32),
            shown(attribute(request, self.account_attr) or b""),
            why,
        )


def door(deps: Deps) -> Callable[[], Connection]:
    select, metadata, mode = deps.picker.select, tuple(deps.adapter_metadata), deps.config.postfix_account
    budget = LogBudget(log)
    return lambda: PolicyConnection(select, metadata, mode, budget)
