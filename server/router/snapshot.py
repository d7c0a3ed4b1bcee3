"""The last-known routing table on local disk, for a router that starts while
PostgreSQL is down.

One file per database (named after a hash of its URL without the password), written
to a temporary name and renamed, so a reader never sees half a file. Line one is a
JSON header; then one entry per line: kind, key, version and the entry's JSON,
separated by tabs (none of them can contain a tab or a newline).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from server.router.pacing import Pacer
from store.database import database_identity

log = logging.getLogger(__name__)

FORMAT = 1
Row = tuple[str, str, int, str]


def path_for(folder: Path, url: str) -> Path:
    digest = hashlib.sha256(database_identity(url).encode()).hexdigest()[:16]
    return folder / f"routing-{digest}.tsv"


async def save(
    path: Path, identity: str, version: int, entries: Mapping[tuple[str, str], tuple[int, str]], pacer: Pacer
) -> int:
    """Write the table; returns the number of entries.

    Runs on the event loop a slice at a time (see ``pacing``); only the final fsync goes
    to a thread. ``entries`` must not change while it runs: pass a copy.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        header = {"format": FORMAT, "database": identity, "version": version, "saved_at": time.time()}
        f.write(json.dumps(header) + "\n")
        for (kind, key), (entry_version, text) in entries.items():
            f.write(f"{kind}\t{key}\t{entry_version}\t{text}\n")
            n += 1
            await pacer.pause()
        await asyncio.to_thread(_sync, f)
    tmp.replace(path)
    return n


def _sync(f: TextIO) -> None:
    f.flush()
    os.fsync(f.fileno())


def load(path: Path, identity: str) -> tuple[int, float, list[Row]] | None:
    """(version, saved_at, rows) of the snapshot at ``path``, or None when there is no usable one."""
    try:
        with path.open(encoding="utf-8") as f:
            header = json.loads(f.readline())
            if header.get("format") != FORMAT or header.get("database") != identity:
                log.warning("routing snapshot ignored path=%s: other format or database", path)
                return None
            rows: list[Row] = []
            for line in f:
                kind, key, version, text = line.rstrip("\n").split("\t", 3)
                rows.append((kind, key, int(version), text))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("routing snapshot unreadable path=%s: %s", path, exc)
        return None
    return int(header["version"]), float(header["saved_at"]), rows
