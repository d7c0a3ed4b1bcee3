"""The HTTP/JSON door (SPEC §5): an ``asyncio.Protocol`` over httptools, no framework.

Why this shape: the door has six routes and its hot one must cost a few microseconds, the
price of the pick itself. A framework's request objects, middleware and per-request tasks
cost more than that, so this is the llhttp parser (httptools, the parser of Node.js and
uvicorn) driving callbacks on the connection, and a pick is answered synchronously inside
the callback that completes its request: no task, no await, one ``write``.

The door only translates. ``/v1/select`` and ``/v1/select/batch`` go to ``Picker`` (access,
validation, pick, counting); outcomes and the account reads call the gRPC servicers as they
are, through ``servicer_context``, whose ``abort`` raises ``Refusal``. Refusals are written with
``server.adapters.status`` (the HTTP status of the gRPC code, ``{"code", "message"}``).
Paths under ``/console`` (and ``/``) are the web console's (``server/console``, SPEC §6),
which answers HTML through the same ``Target``s and reads the ``Cookie`` header.

Bounds, so that no client can make the door hold much: a request head over
``MAX_HEAD_BYTES`` is answered 431, a body over ``max_body_bytes`` 413 as soon as its
Content-Length (or the chunks so far) says so, without holding it; malformed HTTP 400. Those
three close the connection: after the answer the door stops writing (FIN) and drops what
the client still sends for ``LINGER`` seconds, so the client reads the answer instead of a
reset. Slow senders and idle connections are the listener's sweep (``begin``/``end``).
Pipelined requests are answered in order: the synchronous ones inline while nothing is
queued, otherwise one task per connection works through a queue, reading paused meanwhile
(so a client cannot pile up more than one read of requests). A client that does not read
its answers stops being read (``pause_writing``).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable
from typing import NamedTuple, NoReturn

import grpc
import httptools

from sendingip.v1 import management_pb2, router_pb2
from server.adapters import http_json
from server.adapters.deps import Deps
from server.adapters.http_json import BadBody
from server.adapters.listener import Connection
from server.adapters.servicer_context import servicer_context as _context
from server.adapters.status import http_status, status_line
from server.authz import Metadata
from server.console.routes import Console
from server.refusal import Refusal
from server.router.engine import Answer

log = logging.getLogger(__name__)

#: The largest request line plus headers (431 above it).
MAX_HEAD_BYTES = 16 * 1024
#: Seconds a connection closed after an error keeps draining what the client still sends.
LINGER = 2.0

#: An answer: its status line, then the rest from the first header on (the door adds the
#: Date and Connection headers in between).
Reply = tuple[bytes, bytes]
SyncHandler = Callable[[bytes, Metadata, str], Reply]
AsyncHandler = Callable[[bytes, Metadata, str], Awaitable[Reply]]

# What a finished answer does to the connection, and the header it takes.
_CLOSE, _KEEP, _KEEP_10 = 0, 1, 2
_CONNECTION_HEADER = (b"connection: close\r\n", b"", b"connection: keep-alive\r\n")
# Headers the door reads, by raw name as clients send them (lowercased for the rest).
_AUTHORIZATION, _CONTENT_LENGTH, _EXPECT, _CONNECTION, _COOKIE, _OTHER = 1, 2, 3, 4, 5, 0
_HEADERS = {
    b"authorization": _AUTHORIZATION,
    b"content-length": _CONTENT_LENGTH,
    b"expect": _EXPECT,
    b"connection": _CONNECTION,
    b"cookie": _COOKIE,  # the web console's session (server/console)
}
_HEADERS.update({name.title(): kind for name, kind in list(_HEADERS.items())})
_HEADERS.update(dict.fromkeys((b"Host", b"host", b"User-Agent", b"Accept", b"Content-Type", b"content-type"), _OTHER))
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
#: Distinct answers whose JSON is kept (an answer repeats for every message sent alike).
_ANSWER_CACHE = 4096


OK = status_line(200)


def reply(status: int | bytes, body: bytes, extra: bytes = b"") -> Reply:
    """``body`` as JSON with ``status`` (a code or a ready status line) and ``extra`` headers."""
    line = status if isinstance(status, bytes) else status_line(status)
    return line, b"content-type: application/json\r\n%scontent-length: %d\r\n\r\n%s" % (extra, len(body), body)


def error(code: grpc.StatusCode, message: str, *, status: int | None = None, extra: bytes = b"") -> Reply:
    """A refusal as the door writes it: the code's HTTP status and ``{"code", "message"}``."""
    return reply(http_status(code) if status is None else status, http_json.encode_error(code.name, message), extra)


def _refused(r: Refusal) -> Reply:
    return error(r.code, r.message)


class _Date:
    """The Date header (RFC 9110 asks an origin server for one), formatted once a second."""

    until = 0.0
    header = b""


def _date(clock: Callable[[], float] = time.time) -> bytes:
    now = clock()
    if now >= _Date.until:
        second = int(now)
        _Date.header = b"date: %s\r\n" % email.utils.formatdate(second, usegmt=True).encode()
        _Date.until = second + 1
    return _Date.header


class Target(NamedTuple):
    """What a request resolved to: one of the handlers, its argument, whether it reads a body."""

    sync: SyncHandler | None
    slow: AsyncHandler | None
    arg: str = ""
    body: bool = False


def fixed(reply: Reply) -> Target:
    return Target(lambda body, metadata, arg: reply, None)


class Api:
    """The routes of SPEC §5, each a thin translation onto ``Deps``."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.picker = deps.picker
        self.max_body = deps.config.max_body_bytes
        post, get = b"POST", b"GET"
        self.routes: dict[bytes, tuple[bytes, Target]] = {
            b"/v1/select": (post, Target(self.select, None, body=True)),
            b"/v1/select/batch": (post, Target(self.select_batch, None, body=True)),
            b"/v1/outcomes": (post, Target(None, self.outcomes, body=True)),
            b"/healthz": (get, Target(self.health, None)),
        }
        self.not_allowed = {
            method: fixed(
                error(
                    grpc.StatusCode.UNIMPLEMENTED,
                    f"method not allowed here; use {method.decode()}",
                    status=405,
                    extra=b"allow: %s\r\n" % method,
                )
            )
            for method in (post, get)
        }
        #: The web console (SPEC §6) under /console; ``None`` without API keys to sign in with.
        self.console = Console.for_deps(deps)
        self.healthy = reply(200, http_json.encode({"status": "SERVING"}))
        self.unhealthy = reply(503, http_json.encode({"status": "NOT_SERVING"}))
        #: The JSON of recent answers, whole from the first header on (see ``select``).
        self.answers: dict[Answer, bytes] = {}

    # -- routing -------------------------------------------------------------------

    def resolve(self, method: bytes, url: bytes) -> Target:
        found = self.routes.get(url)
        if found is None:
            path = url.partition(b"?")[0]
            if self.console is not None and (path == b"/" or path == b"/console" or path.startswith(b"/console/")):
                arg = f"{method.decode('latin-1')} {url.decode('latin-1')}"
                return Target(None, self.console.handle, arg, body=method == b"POST")
            found = self.routes.get(path) or self._account_route(path)
            if found is None:
                shown = path[:200].decode("latin-1")
                return fixed(error(grpc.StatusCode.NOT_FOUND, f"no such path: {shown}"))
        allowed, target = found
        return target if method == allowed else self.not_allowed[allowed]

    def _account_route(self, path: bytes) -> tuple[bytes, Target] | None:
        """``/v1/accounts/{id}`` and ``/v1/accounts/{id}/sending-ips`` (``None``: no such path)."""
        prefix = b"/v1/accounts/"
        if not path.startswith(prefix) or self.deps.management is None:
            return None
        raw, _, rest = path[len(prefix) :].partition(b"/")
        if rest not in (b"", b"sending-ips") or (rest and path.endswith(b"//")):
            return None
        try:
            account_id = urllib.parse.unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return b"GET", fixed(error(grpc.StatusCode.INVALID_ARGUMENT, "account_id: not valid UTF-8"))
        handler = self.sending_ips if rest else self.account
        return b"GET", Target(None, handler, account_id)

    # -- handlers --------------------------------------------------------------------

    def select(self, body: bytes, metadata: Metadata, arg: str) -> Reply:
        try:
            answer = self.picker.select(metadata, http_json.decode_select(body))
        except BadBody as exc:
            return error(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Refusal as r:
            return _refused(r)
        # The same few answers repeat (one per IP, pool and provider of a routing version):
        # their JSON is kept, which halves what the door spends on an answer.
        rest = self.answers.get(answer)
        if rest is None:
            if len(self.answers) >= _ANSWER_CACHE:
                self.answers.clear()
            rest = self.answers[answer] = reply(OK, http_json.encode_answer(answer))[1]
        return OK, rest

    def select_batch(self, body: bytes, metadata: Metadata, arg: str) -> Reply:
        try:
            answers = self.picker.select_batch(metadata, http_json.decode_batch(body))
        except BadBody as exc:
            return error(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Refusal as r:
            return _refused(r)
        return reply(OK, http_json.encode_answers(answers))

    def health(self, body: bytes, metadata: Metadata, arg: str) -> Reply:
        return self.healthy if self.deps.ready() else self.unhealthy

    async def outcomes(self, body: bytes, metadata: Metadata, arg: str) -> Reply:
        # The key first: a caller without one does not get up to max_body_bytes of JSON
        # parsed (the servicer checks the accounts once it has them).
        denial = self.deps.router.authorizer.check(metadata, "route")
        if denial is not None:
            return error(*denial)
        try:
            request = router_pb2.ReportOutcomesRequest()
            if len(body) > http_json.SLOW_PATH_MAX:
                # json_format is pure Python (~150 ms a MiB): in a thread, the picks go on
                # between its turns at the GIL instead of waiting for the whole parse.
                await asyncio.to_thread(http_json.parse_message, body, request)
            else:
                http_json.parse_message(body, request)
            response = await self.deps.router.ReportOutcomes(request, _context(metadata))
        except BadBody as exc:
            return error(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Refusal as r:
            return _refused(r)
        return reply(OK, http_json.encode_message(response))

    async def account(self, body: bytes, metadata: Metadata, account_id: str) -> Reply:
        assert self.deps.management is not None  # resolve() routes here only with one
        request = management_pb2.GetAccountRequest(account_id=account_id)
        try:
            response = await self.deps.management.GetAccount(request, _context(metadata))
        except Refusal as r:
            return _refused(r)
        return reply(OK, http_json.encode_message(response))

    async def sending_ips(self, body: bytes, metadata: Metadata, account_id: str) -> Reply:
        assert self.deps.management is not None
        request = management_pb2.ListSendingIPsRequest(account_id=account_id)
        try:
            response = await self.deps.management.ListSendingIPs(request, _context(metadata))
        except Refusal as r:
            return _refused(r)
        return reply(OK, http_json.encode_message(response))


_INTERNAL = error(grpc.StatusCode.INTERNAL, "internal error; see the server log")


class _Stop(Exception):
    """Raised from a parser callback once the connection is answered for good."""


Pending = tuple[Target, bytes, Metadata, int]


class HttpConnection(Connection):
    """One client connection: the parser's callbacks, the answers in order, the bounds."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.max_body = api.max_body
        self.parser = httptools.HttpRequestParser(self)
        # The request being parsed.
        self.url = b""
        self.auth: bytes | None = None
        self.cookie: bytes | None = None
        self.length = 0
        self.expect = False
        self.connection_header = False
        self.head_size = 0
        self.target: Target | None = None
        self.body = b""
        self.more: list[bytes] | None = None
        self.body_size = 0
        # Head bytes of chunks that arrived whole inside an unfinished head (see data_received).
        self.in_head = False
        self.fresh = False
        self.head_chunks = 0
        # The metadata of the last Authorization header (an MTA sends the same one each time).
        self.auth_raw: bytes | None = None
        self.metadata: Metadata = ()
        # Answers still to write, in order, while one of them awaits; None when none is.
        self.pending: deque[Pending] | None = None
        self.closing = False  # no more requests are read
        self.finished = False  # the last answer is written (FIN sent or closing)
        self.eof = False
        self.writing_paused = False
        self.linger: asyncio.TimerHandle | None = None
        self.worker: asyncio.Task[None] | None = None

    # -- asyncio.Protocol ------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return  # lingering after an error: drop what the client still sends
        self.fresh = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # Answered; what follows would be another protocol, which this door does not speak.
            self.closing = True
            if self.pending is None:
                self._finish()
            return
        except httptools.HttpParserCallbackError as exc:
            if not self.closing:
                log.error("http door: a callback failed peer=%s", self.peer, exc_info=exc.__context__ or exc)
                self._refuse(_INTERNAL)
            return
        except httptools.HttpParserError as exc:
            why = "HTTP/2 is not served here; use HTTP/1.1" if data.startswith(b"PRI * HTTP/2") else str(exc)
            self._refuse(error(grpc.StatusCode.INVALID_ARGUMENT, f"malformed HTTP request: {why}"))
            return
        if self.in_head and not self.fresh:
            # This whole chunk was head: a head that arrives in pieces is held by the parser
            # until it ends, so it is bounded here (give or take the chunk it began in).
            self.head_chunks += len(data)
            if self.head_chunks > MAX_HEAD_BYTES:
                self._refuse(self._too_large_head())

    def eof_received(self) -> bool:
        if self.closing or not self.pending:
            return False  # asyncio closes the transport
        # Reading is paused while answers are pending, so the end is normally seen after them;
        # should it come first, a half-closed client still gets the answers it asked for.
        self.eof = True
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        # The parser and this connection refer to each other: without this, a body cut off
        # stays in memory until the garbage collector's next full pass.
        self.body, self.more = b"", None
        if self.linger is not None:
            self.linger.cancel()
        if self.pending:
            self.pending.clear()  # the task stops after the call it is in

    def pause_writing(self) -> None:
        self.writing_paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._resume_reading()

    def timed_out(self, reason: str) -> None:
        if self.began and not self.closing and self.transport is not None:
            log.info("http door: answering 408 peer=%s: %s", self.peer, reason)
            self._refuse(error(grpc.StatusCode.DEADLINE_EXCEEDED, reason, status=408))
        elif self.transport is not None and (self.finished or self.transport.get_write_buffer_size()):
            log.info("http door: closing a connection peer=%s: %s", self.peer, reason)
            self.transport.abort()  # a client that does not read: close() would wait on it for ever
        else:
            super().timed_out(reason)

    # -- httptools callbacks ----------------------------------------------------------

    def on_message_begin(self) -> None:
        self.begin()
        self.url = b""
        self.auth = None
        self.cookie = None
        self.length = 0
        self.expect = False
        self.connection_header = False
        self.head_size = 0
        self.in_head = True
        self.fresh = True
        self.head_chunks = 0

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.head_size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_size += len(name) + len(value) + 4
        kind = _HEADERS.get(name)
        if kind is None:
            kind = _HEADERS.get(name.lower(), _OTHER)
        if kind == _OTHER:
            return
        if kind == _AUTHORIZATION:
            if self.auth is None:
                self.auth = value
        elif kind == _CONTENT_LENGTH:
            if value.isdigit():  # llhttp refuses any other value itself
                self.length = int(value)
        elif kind == _EXPECT:
            self.expect = value.lower() == b"100-continue"
        elif kind == _COOKIE:
            self.cookie = value
        else:
            self.connection_header = True

    def on_headers_complete(self) -> None:
        self.in_head = False
        if self.head_size > MAX_HEAD_BYTES:
            self._stop(self._too_large_head())
        if self.length > self.max_body:
            self._stop(self._too_large_body())
        self.target = self.api.resolve(self.parser.get_method(), self.url)
        self.body = b""
        self.more = None
        self.body_size = 0
        if self.expect and self.pending is None and self.transport is not None:
            self.transport.write(_CONTINUE)

    def on_body(self, chunk: bytes) -> None:
        self.body_size += len(chunk)
        if self.body_size > self.max_body:  # chunked: no Content-Length said so in advance
            self._stop(self._too_large_body())
        target = self.target
        if target is None or not target.body:
            return  # a body nobody reads is not kept
        self.listener.hold(self, len(chunk))  # bounded across connections (listener.py)
        if not self.body:
            self.body = chunk
        elif self.more is None:
            self.more = [self.body, chunk]
        else:
            self.more.append(chunk)

    def on_message_complete(self) -> None:
        target = self.target
        assert target is not None
        self.target = None
        body = self.body if self.more is None else b"".join(self.more)
        self.body = b""
        self.more = None
        self.listener.release(self)
        keep = _KEEP if self.parser.should_keep_alive() else _CLOSE
        if keep and self.connection_header:
            if self.parser.should_upgrade():
                keep = _CLOSE  # an Upgrade is declined by answering; llhttp reads no further
            elif self.parser.get_http_version() == "1.0":
                keep = _KEEP_10
        self._answer(target, body, self._metadata(), keep)
        if not keep:
            self.closing = True
            raise _Stop  # what follows a last request is not read

    # -- answering --------------------------------------------------------------------

    def _metadata(self) -> Metadata:
        if self.cookie is not None:  # a browser (the web console), never an MTA's pick
            return self._browser_metadata(self.cookie)
        auth = self.auth
        if auth is None:
            return ()
        if auth != self.auth_raw:
            self.auth_raw = auth
            self.metadata = (("authorization", auth.decode("latin-1")),)
        return self.metadata

    def _browser_metadata(self, cookie: bytes) -> Metadata:
        auth = () if self.auth is None else (("authorization", self.auth.decode("latin-1")),)
        return (*auth, ("cookie", cookie.decode("latin-1")))

    def _answer(self, target: Target, body: bytes, metadata: Metadata, keep: int) -> None:
        sync = target.sync
        if self.pending is None and sync is not None:
            try:
                reply = sync(body, metadata, target.arg)
            except Exception:  # a bug: answered 500, logged, and the connection lives on
                log.exception("http door: a handler failed peer=%s", self.peer)
                reply = _INTERNAL
            self._send(reply, keep)
            return
        item = (target, body, metadata, keep)
        if self.pending is not None:
            self.pending.append(item)
            return
        self.pending = deque((item,))
        self.end()  # the request has arrived; what follows is ours to take time over
        if self.transport is not None:
            self.transport.pause_reading()
        self.worker = asyncio.get_running_loop().create_task(self._work())
        self.listener.track(self.worker)

    async def _work(self) -> None:
        pending = self.pending
        assert pending is not None
        while pending and not self.finished:
            target, body, metadata, keep = pending.popleft()
            try:
                if target.sync is not None:
                    reply = target.sync(body, metadata, target.arg)
                else:
                    assert target.slow is not None
                    reply = await target.slow(body, metadata, target.arg)
            except Exception:
                log.exception("http door: a handler failed peer=%s", self.peer)
                reply = _INTERNAL
            if self.transport is None:
                break
            self._send(reply, keep)
        self.pending = None
        if self.transport is None or self.finished:
            return
        if self.eof:
            self.transport.close()
        elif self.closing:
            self._finish()
        else:
            self._resume_reading()

    def _send(self, answer: Reply, keep: int) -> None:
        transport = self.transport
        if transport is None or self.finished:
            return
        line, rest = answer
        transport.write(line + _date() + _CONNECTION_HEADER[keep] + rest)
        self.end()
        if not keep:
            self._finish()

    def _finish(self) -> None:
        """After the last answer: FIN, then drain what the client still sends for a while."""
        self.finished = self.closing = True
        transport = self.transport
        if transport is None:
            return
        if transport.can_write_eof():
            transport.write_eof()
            self.linger = asyncio.get_running_loop().call_later(LINGER, self._linger_over)
            if not self.writing_paused:
                transport.resume_reading()
        else:
            transport.close()

    def _linger_over(self) -> None:
        transport = self.transport
        if transport is None:
            return
        if transport.get_write_buffer_size():  # the client is still reading a long answer
            self.linger = asyncio.get_running_loop().call_later(LINGER, self._linger_over)
        else:
            transport.close()

    def _resume_reading(self) -> None:
        if self.transport is not None and not self.writing_paused and self.pending is None:
            self.transport.resume_reading()

    def _refuse(self, reply: Reply) -> None:
        """Answer ``reply`` (after any answers queued before it) and close."""
        self.closing = True
        self._answer(fixed(reply), b"", (), _CLOSE)

    def _stop(self, reply: Reply) -> NoReturn:
        self._refuse(reply)
        raise _Stop

    def _too_large_head(self) -> Reply:
        return error(grpc.StatusCode.RESOURCE_EXHAUSTED, f"request head over {MAX_HEAD_BYTES} bytes", status=431)

    def _too_large_body(self) -> Reply:
        return error(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"body over {self.max_body} bytes (SENDINGIP_HTTP_MAX_BODY_BYTES)",
            status=413,
        )


def door(deps: Deps) -> Callable[[], Connection]:
    api = Api(deps)
    return lambda: HttpConnection(api)
