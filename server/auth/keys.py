"""API keys as text: their format, generation, parsing and hashing. Pure; no I/O.

A key reads ``sip_<key_id>_<secret>``. The key id is public (it names the key in
``keys list``, audit rows and log lines); the secret is 256 random bits and is never
stored or logged, only its SHA-256.

Why a fast hash and not bcrypt/scrypt/argon2: those slow hashes exist to protect
low-entropy secrets (passwords) against offline guessing. A 256-bit random secret
cannot be guessed however fast the hash is, and the check runs on the router's hot
path for every pick, where a deliberately slow hash would cost milliseconds.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass

PREFIX = "sip"
PERMISSIONS: tuple[str, ...] = ("route", "view", "admin")

#: Passed as the account of an operation that concerns no single account (AddIPs,
#: UpdatePolicy): a key limited to some accounts never covers it. Account ids cannot
#: contain ``*`` (SPEC §3), so it never names a real account.
ALL_ACCOUNTS = "*"

_KEY_ID_ALPHABET = string.ascii_lowercase + string.digits
_KEY_ID_LENGTH = 12
_KEY_ID = re.compile(r"[a-z0-9]{8,32}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{32,128}")


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    secret: str

    @property
    def token(self) -> str:
        """What the client sends: ``authorization: Bearer <token>``."""
        return f"{PREFIX}_{self.key_id}_{self.secret}"

    @property
    def secret_hash(self) -> bytes:
        return hash_secret(self.secret)


def generate() -> NewKey:
    key_id = "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(_KEY_ID_LENGTH))
    return NewKey(key_id=key_id, secret=secrets.token_urlsafe(32))


def parse(token: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed key, else ``None``."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not _KEY_ID.fullmatch(key_id) or not _SECRET.fullmatch(secret):
        return None
    return key_id, secret


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The token of the ``authorization: Bearer <token>`` metadata, if any."""
    for key, value in metadata or ():
        if key == "authorization":
            if isinstance(value, bytes):
                value = value.decode("ascii", "replace")
            scheme, _, token = value.strip().partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return None


def parse_permissions(text: str | Iterable[str]) -> tuple[str, ...]:
    """``route,view,admin`` (or a list) in canonical order; ``ValueError`` names a bad one."""
    items = text.split(",") if isinstance(text, str) else list(text)
    wanted = {p.strip().lower() for p in items if p.strip()}
    unknown = sorted(wanted - set(PERMISSIONS))
    if unknown:
        raise ValueError(f"unknown permission {unknown[0]!r} (known: {', '.join(PERMISSIONS)})")
    if not wanted:
        raise ValueError(f"at least one permission is needed ({', '.join(PERMISSIONS)})")
    return tuple(p for p in PERMISSIONS if p in wanted)
