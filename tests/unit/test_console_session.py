"""The console's session cookie and CSRF tokens (pure; the clock is an argument)."""

from __future__ import annotations

import hashlib

from server.console import session

KEY = hashlib.sha256(b"the secret of key abc").digest()
OTHER = hashlib.sha256(b"the secret of key xyz").digest()
NOW = 1_800_000_000.0


def test_a_cookie_verifies_for_its_key_until_it_expires_and_not_once_changed() -> None:
    cookie = session.issue("abc123def456", KEY, NOW)
    assert session.key_id_of(cookie) == "abc123def456"
    found = session.verify(cookie, KEY, NOW + session.LIFETIME - 1)
    assert found is not None and found.key_id == "abc123def456"
    assert session.verify(cookie, KEY, NOW + session.LIFETIME) is None  # expired
    assert session.verify(cookie, OTHER, NOW) is None  # another key's hash
    version, key_id, expires, nonce, mac = cookie.split(".")
    for changed in (
        (version, "zzz123def456", expires, nonce, mac),
        (version, key_id, str(int(expires) + 3600), nonce, mac),
        (version, key_id, expires, nonce + "x", mac),
        ("v2", key_id, expires, nonce, mac),
    ):
        assert session.verify(".".join(changed), KEY, NOW) is None, changed
    assert session.verify("garbage", KEY, NOW) is None and session.key_id_of("a.b") is None


def test_csrf_tokens_are_bound_to_the_session() -> None:
    one = session.verify(session.issue("abc123def456", KEY, NOW), KEY, NOW)
    two = session.verify(session.issue("abc123def456", KEY, NOW), KEY, NOW)
    assert one is not None and two is not None
    token = session.csrf_token(one, KEY)
    assert session.csrf_ok(one, KEY, token)
    assert not session.csrf_ok(two, KEY, token) and not session.csrf_ok(one, KEY, "")
    assert session.sign_in_ok("t0ken", "t0ken") and not session.sign_in_ok(None, "t0ken")
    assert not session.sign_in_ok("", "") and not session.sign_in_ok("t0ken", "other")


def test_cookies_are_parsed_leniently_and_set_httponly_and_strict() -> None:
    assert session.parse_cookies('a=1; b="2"; junk; a=3; =x') == {"a": "1", "b": "2"}
    header = session.set_cookie(session.COOKIE, "v", 60)
    assert header == "sip_console=v; Path=/console; Max-Age=60; HttpOnly; SameSite=Strict"
