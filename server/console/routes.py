"""The web console (SPEC §6) on the HTTP listener: ``/console/...`` and ``/``.

The HTTP door (``server/adapters/http.py``) hands every request for a path under
``/console`` (and ``/``) to ``Console.handle``, one of its slow (async) handlers. Here: the
route table, the session gate (``session.py``: a signed cookie; no session, the sign-in
page), the CSRF check on every POST, and the mapping of a refusal to an error page with its
code's HTTP status (401, 403, 404, 400 …; 500 only for a bug, logged). The pages themselves are ``pages.py``; who may do what is decided by the
Management servicer they call (``access.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from server.adapters.deps import Deps
from server.adapters.servicer_context import servicer_context
from server.adapters.status import http_status
from server.auth.authorizer import ActiveKey, KeyAuthorizer
from server.authz import Metadata
from server.console import access, pages, render, session, web
from server.console.pages import Page
from server.console.web import BadRequest, Reply, Request
from server.management.servicer import ManagementServicer
from server.refusal import Refusal

log = logging.getLogger(__name__)

#: A signed-in page: the page, and the account id of ``/console/accounts/{id}/...`` routes.
Handler = Callable[[Page], Awaitable[Reply]]
AccountHandler = Callable[[Page, str], Awaitable[Reply]]

_HOME = "/console/accounts"
_SIGN_IN = "/console/sign-in"

_ROUTES: dict[tuple[str, ...], tuple[str, Handler]] = {
    ("accounts",): ("GET", pages.accounts),
    ("inventory",): ("GET", pages.inventory),
    ("audit",): ("GET", pages.audit),
    ("ips", "block"): ("POST", pages.block),
    ("ips", "unblock"): ("POST", pages.unblock),
}
_ACCOUNT_ROUTES: dict[str, tuple[str, AccountHandler]] = {
    "": ("GET", pages.account),
    "pause": ("POST", pages.pause),
    "resume": ("POST", pages.resume),
    "mode": ("POST", pages.set_mode),
}


def error_page(status: int, code: str, message: str, key: ActiveKey | None = None, csrf: str = "") -> Reply:
    return web.html(
        status, render.page("error.html", status=status, code=code, message=message, key=key, csrf=csrf, section="")
    )


class Console:
    def __init__(self, deps: Deps, keys: KeyAuthorizer, clock: Callable[[], float] = time.time) -> None:
        management = deps.management
        assert management is not None
        #: The live key set: sign-in checks a key against it, sessions find their key in it.
        self.keys = keys
        #: The gRPC service's own class, with the session's key as its caller (``access.py``).
        self.servicer = ManagementServicer(management.pool, access.SessionAccess(keys), management.clock)
        self.clock = clock

    @classmethod
    def for_deps(cls, deps: Deps) -> Console | None:
        """The console of a door whose server checks API keys; ``None`` otherwise (no sign-in possible)."""
        if deps.management is None or not isinstance(deps.management.access, KeyAuthorizer):
            return None
        return cls(deps, deps.management.access)

    async def handle(self, body: bytes, metadata: Metadata, arg: str) -> Reply:
        """Every console request (the door's slow handler): ``arg`` is ``METHOD URL``."""
        method, _, url = arg.partition(" ")
        try:
            request = web.parse_url(method, url.encode("latin-1"), metadata)
            return await self._route(request, body)
        except BadRequest as exc:
            return error_page(400, "INVALID_ARGUMENT", str(exc))
        except Exception:  # a bug: a page, not a traceback; logged with one
            log.exception("console: a page failed url=%s", url[:200])
            return error_page(500, "INTERNAL", "internal error; see the server log")

    async def _route(self, request: Request, body: bytes) -> Reply:
        segments = tuple(request.segments)
        if request.path in ("/", "/console", "/console/"):
            return web.redirect(_HOME)
        if segments == ("sign-in",):
            return await self._sign_in(request, body)
        if segments == ("sign-out",):
            return self._only(request, "POST") or self._sign_out(request, body)
        signed_in = self._session(request)
        if signed_in is None:
            return web.redirect(_SIGN_IN, [session.set_cookie(session.COOKIE, "", 0)])
        key, current = signed_in
        csrf = session.csrf_token(current, key.secret_hash)
        found = self._find(segments)
        if found is None:
            return error_page(404, "NOT_FOUND", f"no such page: {request.path[:200]}", key, csrf)
        allowed, run = found
        if request.method != allowed:
            return error_page(405, "METHOD_NOT_ALLOWED", f"use {allowed} here", key, csrf)
        if allowed == "POST":
            request = _with_form(request, body)
            if not session.csrf_ok(current, key.secret_hash, request.field("csrf")):
                return error_page(
                    403, "PERMISSION_DENIED", "the form's CSRF token is missing or wrong; reload the page", key, csrf
                )
        page = Page(request, key, csrf, self.servicer, servicer_context(access.session_metadata(key.key_id)))
        try:
            return await run(page)
        except Refusal as r:
            return error_page(http_status(r.code), r.code.name, r.message, key, csrf)

    def _find(self, segments: tuple[str, ...]) -> tuple[str, Handler] | None:
        if segments in _ROUTES:
            return _ROUTES[segments]
        if len(segments) in (2, 3) and segments[0] == "accounts":
            account_route = _ACCOUNT_ROUTES.get(segments[2] if len(segments) == 3 else "")
            if account_route is not None:
                allowed, handler = account_route
                account_id = segments[1]
                return allowed, lambda page: handler(page, account_id)
        return None

    def _session(self, request: Request) -> tuple[ActiveKey, session.Session] | None:
        cookie = request.cookies.get(session.COOKIE, "")
        key_id = session.key_id_of(cookie)
        key = self.keys.key(key_id) if key_id else None
        if key is None:
            return None
        current = session.verify(cookie, key.secret_hash, self.clock())
        return None if current is None else (key, current)

    @staticmethod
    def _only(request: Request, method: str) -> Reply | None:
        if request.method == method:
            return None
        return error_page(405, "METHOD_NOT_ALLOWED", f"use {method} here")

    async def _sign_in(self, request: Request, body: bytes) -> Reply:
        if request.method == "GET":
            return self._sign_in_form("", 200)
        if request.method != "POST":
            return error_page(405, "METHOD_NOT_ALLOWED", "use GET or POST here")
        form = _with_form(request, body)
        if not session.sign_in_ok(request.cookies.get(session.SIGN_IN_COOKIE), form.field("csrf")):
            return self._sign_in_form("The sign-in form expired or was not sent from this page; try again.", 403)
        key = self.keys.authenticate(Deps.bearer(form.field("key").strip()))
        if not isinstance(key, ActiveKey):
            log.info("console: sign-in refused: %s", key[1])
            return self._sign_in_form(f"Not signed in: {key[1]}.", http_status(key[0]))
        if not key.allows("view"):
            log.info("console: sign-in refused key_id=%s: no view permission", key.key_id)
            return self._sign_in_form(f"Not signed in: API key {key.key_id} lacks the 'view' permission.", 403)
        log.info("console: signed in key_id=%s", key.key_id)
        cookie = session.issue(key.key_id, key.secret_hash, self.clock())
        return web.redirect(
            _HOME,
            [
                session.set_cookie(session.COOKIE, cookie, session.LIFETIME),
                session.set_cookie(session.SIGN_IN_COOKIE, "", 0),
            ],
        )

    def _sign_in_form(self, message: str, status: int) -> Reply:
        token = session.sign_in_token()
        body = render.page("signin.html", message=message, csrf=token, key=None, section="")
        return web.html(status, body, [session.set_cookie(session.SIGN_IN_COOKIE, token, session.SIGN_IN_LIFETIME)])

    def _sign_out(self, request: Request, body: bytes) -> Reply:
        signed_in = self._session(request)
        form = _with_form(request, body)
        if signed_in is not None and not session.csrf_ok(signed_in[1], signed_in[0].secret_hash, form.field("csrf")):
            return error_page(403, "PERMISSION_DENIED", "the form's CSRF token is missing or wrong; reload the page")
        return web.redirect(_SIGN_IN, [session.set_cookie(session.COOKIE, "", 0)])


def _with_form(request: Request, body: bytes) -> Request:
    return Request(request.method, request.path, request.segments, request.query, request.cookies, web.parse_form(body))
