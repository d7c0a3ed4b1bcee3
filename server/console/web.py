"""Requests and answers of the console: parsing what the HTTP door hands over (URL, form,
cookies) and writing HTML answers in the door's ``Reply`` form. No rule of the product
lives here."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from server.adapters.status import status_line
from server.authz import Metadata
from server.console import session

#: Headers of every console answer: no caching of pages that show account data, no framing,
#: no script at all (the pages have none), forms posted only to the console itself.
SECURITY_HEADERS = (
    b"cache-control: no-store\r\n"
    b"x-content-type-options: nosniff\r\n"
    b"x-frame-options: DENY\r\n"
    b"referrer-policy: same-origin\r\n"
    b"content-security-policy: default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n"
)
#: Most form fields read from one POST.
MAX_FIELDS = 1000


#: An answer as the HTTP door writes it: the status line, then the rest from the first header on.
Reply = tuple[bytes, bytes]


class BadRequest(Exception):
    """Input the console itself cannot read (answered 400 with the message)."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    #: The URL's segments after ``/console``, percent-decoded.
    segments: Sequence[str]
    query: Mapping[str, str]
    cookies: Mapping[str, str]
    form: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def field(self, name: str) -> str:
        values = self.form.get(name)
        return values[0] if values else ""


def _decode(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"{what}: not valid UTF-8") from None


def parse_url(method: str, url: bytes, metadata: Metadata) -> Request:
    raw_path, _, raw_query = url.partition(b"?")
    path = _decode(raw_path, "the path")
    try:
        segments = [urllib.parse.unquote(s, errors="strict") for s in path.split("/")[2:] if s]
        pairs = urllib.parse.parse_qsl(_decode(raw_query, "the query"), errors="strict", max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the URL cannot be read: {exc}") from None
    query: dict[str, str] = {}
    for name, value in pairs:
        query.setdefault(name, value.strip())
    cookie = next((v for k, v in metadata if k == "cookie"), "")
    cookies = session.parse_cookies(cookie if isinstance(cookie, str) else cookie.decode("latin-1"))
    return Request(method, path, segments, query, cookies)


def parse_form(body: bytes) -> dict[str, list[str]]:
    try:
        return urllib.parse.parse_qs(
            _decode(body, "the form"), keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the form cannot be read: {exc}") from None


def html(status: int, body: bytes, cookies: Sequence[str] = ()) -> Reply:
    extra = b"".join(b"set-cookie: %s\r\n" % c.encode() for c in cookies)
    return status_line(status), (
        b"content-type: text/html; charset=utf-8\r\n%s%scontent-length: %d\r\n\r\n%s"
        % (SECURITY_HEADERS, extra, len(body), body)
    )


def redirect(location: str, cookies: Sequence[str] = ()) -> Reply:
    """303: after a POST the browser GETs ``location`` (a reload does not post again)."""
    if not location.isascii() or not location.isprintable() or " " in location:
        raise ValueError(f"not a safe Location: {location!r}")  # no header can be slipped in
    extra = b"".join(b"set-cookie: %s\r\n" % c.encode() for c in cookies)
    return status_line(303), b"location: %s\r\n%s%scontent-length: 0\r\n\r\n" % (
        location.encode(),
        SECURITY_HEADERS,
        extra,
    )


def url(path: str, **params: str) -> str:
    """``path`` with the non-empty ``params`` as its query."""
    kept = {k: v for k, v in params.items() if v}
    return f"{path}?{urllib.parse.urlencode(kept)}" if kept else path


def account_path(account_id: str, *rest: str) -> str:
    return "/".join(["/console/accounts", urllib.parse.quote(account_id, safe=""), *rest])
