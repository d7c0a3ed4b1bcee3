"""A SelectSendingIP request as an MTA sends one, and the metadata that carries an API key.

Tests name only what they vary; the rest is the usual message: account ``acme``, mail
for ``gmail.com``. The message id decides the pick (it is hashed), so callers that
compare picks across runs keep theirs.
"""

from __future__ import annotations

from sendingip.v1 import router_pb2


def pick_fields(
    message_id: str = "<1@x>", account: str = "acme", domain: str = "gmail.com", **fields: object
) -> dict[str, object]:
    """The request's fields, e.g. as the HTTP door's JSON body; ``fields``: any other field
    of the request (``retry``, ``region``, ...)."""
    return {"account_id": account, "message_id": message_id, "recipient_domain": domain, **fields}


def pick_request(
    message_id: str = "<1@x>", account: str = "acme", domain: str = "gmail.com", **fields: object
) -> router_pb2.SelectSendingIPRequest:
    """The request as gRPC carries it; the arguments are ``pick_fields``'s."""
    return router_pb2.SelectSendingIPRequest(**pick_fields(message_id, account, domain, **fields))  # type: ignore[arg-type]


def bearer(key: str) -> tuple[tuple[str, str]]:
    """gRPC metadata carrying ``key``."""
    return (("authorization", f"Bearer {key}"),)
