"""The access-control seam every servicer calls. The real key store lives in
``server.auth``; ``AllowAll`` serves tests of code that is not about access control.

``check`` is synchronous and must not touch the database: it runs on the hot path of
every pick. It returns ``None`` when the call may proceed, else the status code and
message to abort with (``UNAUTHENTICATED`` or ``PERMISSION_DENIED``, SPEC §3).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Protocol

import grpc

Permission = Literal["route", "view", "admin"]
Metadata = Iterable[tuple[str, str | bytes]]
Denial = tuple[grpc.StatusCode, str]


class Authorizer(Protocol):
    def check(self, metadata: Metadata | None, permission: Permission, accounts: Iterable[str] = ()) -> Denial | None:
        """Whether a caller with this metadata may use ``permission`` on ``accounts``."""
        ...


class AllowAll:
    def check(self, metadata: Metadata | None, permission: Permission, accounts: Iterable[str] = ()) -> Denial | None:
        return None
