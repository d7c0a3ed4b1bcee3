"""The console's sessions: a signed, expiring cookie, and CSRF tokens bound to it. Pure; the
clock is an argument.

Why a signed cookie and not a session table or a dict in memory: ``serve --processes N``
runs N router processes on one port, and the kernel hands a browser's connections to any
of them; a dict would sign the user out at random, and a table would cost a PostgreSQL
round trip per page. The cookie names the API key by id, says until when it holds, and
carries an HMAC-SHA256 over both, keyed by the key's stored hash (``ActiveKey.secret_hash``:
the SHA-256 of its secret, held by every router in memory, never sent to a client). So:

- every process, every machine and every restart verifies the same cookie, with no
  secret of the console's own to share or rotate;
- the cookie never holds the API key: a stolen cookie works until it expires, and cannot
  be turned into a key for the gRPC or HTTP APIs;
- revoking the key ends its sessions at once (the key is no longer found), and signing
  out only drops the cookie (there is nothing on the server to delete).

A CSRF token is an HMAC of the session's nonce under the same key: it differs per session
and cannot be made without the key's hash. Forms carry it; every POST checks it. Before a
session exists (the sign-in form), the token is a random value the form and a short-lived
cookie both carry (double submit), so another site cannot sign a browser in with its key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

#: The session cookie (``__Host-`` needs Secure, which a plain-HTTP listener cannot set).
COOKIE = "sip_console"
#: The sign-in form's double-submit cookie.
SIGN_IN_COOKIE = "sip_console_signin"
#: Seconds a session holds after sign-in.
LIFETIME = 8 * 3600
#: Seconds the sign-in form's token holds.
SIGN_IN_LIFETIME = 3600

_VERSION = "v1"
_CONTEXT = b"sendingip console session"


@dataclass(frozen=True, slots=True)
class Session:
    key_id: str
    #: Unix seconds after which the cookie is refused.
    expires: int
    nonce: str


def _mac(key_hash: bytes, *parts: str) -> str:
    message = b"|".join([_CONTEXT, *(p.encode() for p in parts)])
    digest = hmac.new(key_hash, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue(key_id: str, key_hash: bytes, now: float) -> str:
    """The cookie value of a new session for the key ``key_id`` (whose hash is ``key_hash``)."""
    nonce = secrets.token_urlsafe(12)
    expires = str(int(now) + LIFETIME)
    return ".".join((_VERSION, key_id, expires, nonce, _mac(key_hash, _VERSION, key_id, expires, nonce)))


def key_id_of(cookie: str) -> str | None:
    """The key id a cookie names (unverified: only to find the key whose hash verifies it)."""
    parts = cookie.split(".")
    return parts[1] if len(parts) == 5 and parts[0] == _VERSION else None


def verify(cookie: str, key_hash: bytes, now: float) -> Session | None:
    """The session, if ``cookie`` was issued for this key and has not expired."""
    parts = cookie.split(".")
    if len(parts) != 5 or parts[0] != _VERSION or not parts[2].isdigit():
        return None
    version, key_id, expires, nonce, mac = parts
    if not hmac.compare_digest(mac, _mac(key_hash, version, key_id, expires, nonce)):
        return None
    if int(expires) <= now:
        return None
    return Session(key_id, int(expires), nonce)


def csrf_token(session: Session, key_hash: bytes) -> str:
    """The token the session's forms carry."""
    return _mac(key_hash, "csrf", session.key_id, session.nonce)


def csrf_ok(session: Session, key_hash: bytes, sent: str) -> bool:
    return hmac.compare_digest(sent.encode(), csrf_token(session, key_hash).encode())


def sign_in_token() -> str:
    """A fresh double-submit token for the sign-in form."""
    return secrets.token_urlsafe(24)


def sign_in_ok(cookie: str | None, sent: str) -> bool:
    if not cookie or not sent:
        return False
    return hmac.compare_digest(cookie.encode(), sent.encode())


def parse_cookies(header: str) -> dict[str, str]:
    """``name=value; name2=value2`` (the first of a repeated name wins; malformed pairs are skipped)."""
    found: dict[str, str] = {}
    for pair in header.split(";"):
        name, sep, value = pair.strip().partition("=")
        if sep and name and name not in found:
            found[name] = value.strip().strip('"')
    return found


def set_cookie(name: str, value: str, max_age: int) -> str:
    """A Set-Cookie value: HttpOnly (no script reads it), SameSite=Strict (no other site's
    request carries it), for the console's paths only."""
    return f"{name}={value}; Path=/console; Max-Age={max_age}; HttpOnly; SameSite=Strict"
