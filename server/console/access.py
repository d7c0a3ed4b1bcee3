"""Who a console page acts as: the key its verified session names, with that key's
permissions and account scope, decided by the same code as every other call.

The console never holds an API key after sign-in (``session.py``), so its calls cannot carry
``authorization: Bearer <key>``. Its pages call a ``ManagementServicer`` of their own, the
same class the gRPC service runs, whose access control is ``SessionAccess``: a
``KeyAuthorizer`` whose ``authenticate`` finds the caller by the key id the console put in
the call's metadata after verifying the session cookie. ``check`` and ``caller`` are
``KeyAuthorizer``'s own, so permissions, account scope and the audit's actor are decided in
one place for gRPC, HTTP and the console alike, against the live key set (a revoked key
is refused on the next page).
"""

from __future__ import annotations

import grpc

from server.auth.authorizer import ActiveKey, KeyAuthorizer
from server.authz import Denial, Metadata

#: The metadata entry naming the session's key. Only the console builds such metadata,
#: and only after the session cookie verified; no client's metadata reaches this class.
SESSION_KEY = "sendingip-console-key-id"

_ENDED: Denial = (grpc.StatusCode.UNAUTHENTICATED, "the session's API key is revoked or unknown; sign in again")
_NO_SESSION: Denial = (grpc.StatusCode.UNAUTHENTICATED, "not signed in")


class SessionAccess(KeyAuthorizer):
    def __init__(self, keys: KeyAuthorizer) -> None:
        super().__init__()
        #: The server's live key set (kept current by ``server.auth.cache.KeyCache``).
        self.keys = keys

    def authenticate(self, metadata: Metadata | None) -> ActiveKey | Denial:
        for name, value in metadata or ():
            if name == SESSION_KEY:
                key = self.keys.key(value if isinstance(value, str) else value.decode())
                return _ENDED if key is None else key
        return _NO_SESSION


def session_metadata(key_id: str) -> Metadata:
    return ((SESSION_KEY, key_id),)
