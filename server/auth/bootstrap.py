"""The first start of a fresh install: make an admin key and show it once."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from server.auth.store import bootstrap_admin_key
from store.database import connect

log = logging.getLogger(__name__)


async def ensure_admin_key(url: str, out: TextIO | None = None) -> str | None:
    """Create and print an admin key when ``api_keys`` is empty; return its key id."""
    async with connect(url) as conn:
        new = await bootstrap_admin_key(conn)
    if new is None:
        return None
    log.info("created bootstrap admin key key_id=%s", new.key_id)
    out = out or sys.stdout
    bar = "=" * 72
    print(
        f"{bar}\n"
        "A fresh install: created an API key with every permission (route, view, admin).\n"
        "Keep it now; only its hash is stored. For the client commands:\n"
        f"    export SENDINGIP_API_KEY={new.token}\n"
        f"admin key (shown once): {new.token}\n"
        f"{bar}",
        file=out,
        flush=True,
    )
    return new.key_id
