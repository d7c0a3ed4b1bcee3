"""The active API keys on local disk, for a server that starts while PostgreSQL is down.

The router can start from its routing snapshot without PostgreSQL; without keys every
call would still be refused. So the key cache writes what it holds — key ids, SHA-256
hashes, permissions and account scopes; never a secret — next to the routing snapshot,
one file per database, readable by the owner only, written to a temporary name and
renamed. A server that cannot reach PostgreSQL at start loads it; the first successful
reload replaces it, so a revocation made during the outage takes effect as soon as
PostgreSQL is back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path

from server.auth.authorizer import ActiveKey
from store.database import database_identity
from store.state_file import write_atomically

log = logging.getLogger(__name__)

FORMAT = 1


def path_for(folder: Path, url: str) -> Path:
    digest = hashlib.sha256(database_identity(url).encode()).hexdigest()[:16]
    return folder / f"keys-{digest}.json"


def save(path: Path, url: str, active: Iterable[ActiveKey]) -> int:
    """Write ``active``; returns the number of keys."""
    rows = [
        {
            "key_id": k.key_id,
            "secret_hash": k.secret_hash.hex(),
            "permissions": sorted(k.permissions),
            "accounts": None if k.accounts is None else sorted(k.accounts),
        }
        for k in sorted(active, key=lambda k: k.key_id)
    ]
    document = {"format": FORMAT, "database": database_identity(url), "saved_at": time.time(), "keys": rows}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(document).encode())
    return len(rows)


def load(path: Path, url: str) -> tuple[list[ActiveKey], float] | None:
    """(keys, saved_at) of the file at ``path``, or None when there is no usable one."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != FORMAT or document.get("database") != database_identity(url):
            log.warning("saved api keys ignored path=%s: other format or database", path)
            return None
        keys = [
            ActiveKey(
                key_id=str(row["key_id"]),
                secret_hash=bytes.fromhex(row["secret_hash"]),
                permissions=frozenset(row["permissions"]),
                accounts=None if row["accounts"] is None else frozenset(row["accounts"]),
            )
            for row in document["keys"]
        ]
        return keys, float(document["saved_at"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("saved api keys unreadable path=%s: %s", path, exc)
        return None
