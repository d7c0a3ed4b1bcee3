"""The first start of a fresh install: make an admin key and show it once.

The key is printed on standard output, and also written to a file readable by its owner
only (``SENDINGIP_DATA_DIR/admin-key``): a server started by a service manager, or whose
output scrolled away, would otherwise leave the operator without any key and no way to
make one through the API. The log says where the file is (never the key); delete the file
once the key is stored elsewhere.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

from server.auth.store import bootstrap_admin_key
from store.database import connect
from store.state_file import write_atomically

log = logging.getLogger(__name__)

#: The file's name under ``SENDINGIP_DATA_DIR``.
ADMIN_KEY_FILE = "admin-key"


async def ensure_admin_key(url: str, out: TextIO | None = None, key_file: Path | None = None) -> str | None:
    """Create and print an admin key when ``api_keys`` is empty (and write it to ``key_file``,
    mode 0600); return its key id."""
    async with connect(url) as conn:
        new = await bootstrap_admin_key(conn)
    if new is None:
        return None
    saved = _write_key(key_file, new.token) if key_file is not None else False
    log.info(
        "created bootstrap admin key key_id=%s%s",
        new.key_id,
        f"; also written to {key_file} (mode 0600: delete it once the key is kept elsewhere)" if saved else "",
    )
    out = out or sys.stdout
    bar = "=" * 72
    print(
        f"{bar}\n"
        "A fresh install: created an API key with every permission (route, view, admin).\n"
        "Keep it now; only its hash is stored. For the client commands:\n"
        f"    export SENDINGIP_API_KEY={new.token}\n"
        f"admin key (shown once): {new.token}\n"
        + (f"The same key is in {key_file} (readable by this user only); delete it once kept.\n" if saved else "")
        + bar,
        file=out,
        flush=True,
    )
    return new.key_id


def _write_key(path: Path, token: str) -> bool:
    """Write ``token`` to ``path`` (mode 0600, replacing any older file whole); False, and a
    log line, when it cannot be written: the printed key is still there."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, (token + "\n").encode("ascii"))
        return True
    except OSError as exc:
        log.warning(
            "could not write the bootstrap admin key to %s: %s (it is printed on standard output only)", path, exc
        )
        return False
