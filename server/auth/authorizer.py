"""``KeyAuthorizer``: the ``server.authz.Authorizer`` backed by API keys held in memory.

``check`` runs on the router's hot path: it parses the bearer token, finds the key by
id in a dict and compares the SHA-256 of the secret in constant time. It never
touches the database; ``KeyCache`` (server/auth/cache.py) replaces the dict whenever
keys change.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import grpc

from server.auth import keys
from server.authz import Denial, Metadata, Permission

_MISSING: Denial = (
    grpc.StatusCode.UNAUTHENTICATED,
    "missing API key: send metadata 'authorization: Bearer <key>'",
)
_MALFORMED: Denial = (
    grpc.StatusCode.UNAUTHENTICATED,
    "malformed API key: expected 'authorization: Bearer sip_<key id>_<secret>'",
)
_UNKNOWN: Denial = (grpc.StatusCode.UNAUTHENTICATED, "unknown or revoked API key")
_NOT_LOADED: Denial = (
    grpc.StatusCode.UNAVAILABLE,
    "API keys not loaded yet: the server cannot reach PostgreSQL; retry",
)
#: Bound on the verified-header cache (distinct header values with a valid key).
_MAX_VERIFIED = 10_000
#: Compared against when the key id is unknown, so that an unknown id and a wrong
#: secret take the same time.
_NO_HASH = bytes(32)


@dataclass(frozen=True, slots=True)
class ActiveKey:
    """A key that is not revoked, as the servers hold it in memory."""

    key_id: str
    secret_hash: bytes
    permissions: frozenset[str]
    #: The accounts the key is limited to; ``None`` for every account.
    accounts: frozenset[str] | None

    def allows(self, permission: str) -> bool:
        # admin implies view: an operator who may change an account may also read it.
        return permission in self.permissions or (permission == "view" and "admin" in self.permissions)


class KeyAuthorizer:
    """Until keys are loaded once (``replace``), every call is UNAVAILABLE: refusing
    valid keys as UNAUTHENTICATED would tell clients their key is wrong."""

    def __init__(self, active: Iterable[ActiveKey] | None = None) -> None:
        #: The keys by id, with the authorization header values already verified against
        #: them. An MTA sends the same header on every pick: parsing, hashing and comparing
        #: it once per key set instead of once per call took 1.6 of the 8.6 µs a unary pick
        #: cost in process (docs/benchmarks.md). Only successes are kept, up to a bound. Both are
        #: swapped in one assignment, so a revoked key stops working at once. (A dict lookup
        #: goes by a per-process salted hash: it tells a caller nothing about a secret's bytes.)
        self._state: tuple[Mapping[str, ActiveKey], dict[str | bytes, ActiveKey]] | None = None
        if active is not None:
            self.replace(active)

    def replace(self, active: Iterable[ActiveKey]) -> None:
        """Swap in a new set of keys (one assignment: a concurrent check sees old or new)."""
        self._state = ({k.key_id: k for k in active}, {})

    def key(self, key_id: str) -> ActiveKey | None:
        """The active key with this id (the web console's sessions name their key by id)."""
        state = self._state
        return None if state is None else state[0].get(key_id)

    @property
    def loaded(self) -> bool:
        return self._state is not None

    def __len__(self) -> int:
        return len(self._state[0]) if self._state is not None else 0

    def authenticate(self, metadata: Metadata | None) -> ActiveKey | Denial:
        """The caller's key, or the denial (``UNAUTHENTICATED``; ``UNAVAILABLE`` before the first load)."""
        state = self._state
        if state is None:
            return _NOT_LOADED
        known, verified = state
        header: str | bytes | None = None
        for name, value in metadata or ():
            if name == "authorization":
                hit = verified.get(value)
                if hit is not None:
                    return hit
                header = value
                break
        key = self._verify(known, metadata)
        if header is not None and isinstance(key, ActiveKey) and len(verified) < _MAX_VERIFIED:
            verified[header] = key
        return key

    def _verify(self, known: Mapping[str, ActiveKey], metadata: Metadata | None) -> ActiveKey | Denial:
        token = keys.bearer_token(metadata)
        if token is None:
            return _MISSING
        parsed = keys.parse(token)
        if parsed is None:
            return _MALFORMED
        key_id, secret = parsed
        key = known.get(key_id)
        # Hash and compare even for an unknown id: the answer takes the same time.
        matches = hmac.compare_digest(keys.hash_secret(secret), key.secret_hash if key is not None else _NO_HASH)
        if key is None or not matches:
            return _UNKNOWN
        return key

    def check(self, metadata: Metadata | None, permission: Permission, accounts: Iterable[str] = ()) -> Denial | None:
        key = self.authenticate(metadata)
        if not isinstance(key, ActiveKey):
            return key
        if not key.allows(permission):
            return (
                grpc.StatusCode.PERMISSION_DENIED,
                f"API key {key.key_id} lacks the {permission!r} permission",
            )
        if key.accounts is not None:
            for account in accounts:
                if account not in key.accounts:
                    if account == keys.ALL_ACCOUNTS:
                        return (
                            grpc.StatusCode.PERMISSION_DENIED,
                            f"API key {key.key_id} is limited to some accounts; "
                            "this operation needs a key for every account",
                        )
                    return (
                        grpc.StatusCode.PERMISSION_DENIED,
                        f"API key {key.key_id} may not access account {account!r}",
                    )
        return None

    def caller(self, metadata: Metadata | None) -> ActiveKey | None:
        """The authenticated key (call after ``check`` allowed the call)."""
        key = self.authenticate(metadata)
        return key if isinstance(key, ActiveKey) else None
