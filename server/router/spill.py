"""History a router could not write before it stopped, kept on local disk until it can.

On SIGTERM with PostgreSQL unreachable, the final flush gives up after its timeout.
Rather than lose those counts, the router writes every unwritten flush, each with its
id, to ``<data_dir>/router/history-<hash of the database>.json``. At its next start it
writes them first, with the same ids, so a flush that had in fact landed before the
stop is recognised and not counted again; the file goes once all of them are written.
(SIGKILL leaves no time for this: see the README's Reliability section.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from server.router.history import Flush
from server.router.snapshot import database_identity

log = logging.getLogger(__name__)

FORMAT = 1


def path_for(folder: Path, url: str) -> Path:
    digest = hashlib.sha256(database_identity(url).encode()).hexdigest()[:16]
    return folder / f"history-{digest}.json"


def save(path: Path, flushes: Sequence[Flush]) -> int:
    """Replace the file with ``flushes`` (written to a temporary name, synced, renamed);
    returns the number of picks kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    body = {
        "format": FORMAT,
        "saved_at": time.time(),
        "flushes": [
            {
                "flush_id": str(f.flush_id),
                "rows": [[*key, n] for key, n in f.rows],
                "new_accounts": [list(a) for a in f.new_accounts],
                "picks": f.picks,
            }
            for f in flushes
        ],
    }
    with tmp.open("w", encoding="utf-8") as out:
        json.dump(body, out, separators=(",", ":"))
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    return sum(f.picks for f in flushes)


def load(path: Path) -> list[Flush]:
    """The flushes kept at ``path``; none when there is no file. A damaged file is kept
    aside (renamed ``*.damaged``) and reported, never silently dropped."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != FORMAT:
            raise ValueError(f"unknown format {raw.get('format')!r}")
        now = time.monotonic()
        return [
            Flush(
                flush_id=uuid.UUID(f["flush_id"]),
                rows=[((int(d), str(a), str(ip), str(p)), int(n)) for d, a, ip, p, n in f["rows"]],
                new_accounts=[(str(a), str(r)) for a, r in f["new_accounts"]],
                picks=int(f["picks"]),
                oldest=now,
            )
            for f in raw["flushes"]
        ]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as exc:
        aside = path.with_name(path.name + ".damaged")
        path.replace(aside)
        log.error("history kept on disk is unreadable (%s); moved to %s for an operator", exc, aside)
        return []


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)
