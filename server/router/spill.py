"""History a router has not written to PostgreSQL yet, kept on local disk.

Picks are counted in memory and flushed about once a flush interval. While PostgreSQL
is unreachable, or frozen, the backlog grows, and a SIGKILL then would lose all of it;
so while the backlog is not being written the flusher (``history.py``) appends it here
every flush interval, and a SIGTERM that cannot flush leaves all of it here. The next
start writes it first, with the same flush ids, so a flush that had in fact landed
adds nothing (``history_flushes``).

Files in ``<data_dir>/router/``, named after a hash of the database and the router:

* ``history-<db>-<router>.jsonl`` — a header line, then one line per part of a flush:
  its id, rows and new accounts; the parts of one id add up to that flush. Appended
  (each append fsynced) and now and then replaced whole (temporary file, fsync, rename),
  so that flushes written since are dropped. Gone when nothing is owed.
* ``history-<db>-<router>.lock`` — an exclusive ``flock`` on it, held for the router's
  life, proves that its owner runs. (One file per router: two routers on one host once
  shared a single file and overwrote each other's backlog.)
* ``history-<db>.lock`` — held while a router starts, so two routers starting at once
  never take over the same file.

At start a router adopts every history file of its database whose owner is not
running (the lock file is free, or gone), never one a live router holds: it copies
their flushes into its own file, fsyncs it, then removes theirs. A copy interrupted in
between leaves the same ids in two files; whoever adopts both writes each id once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from server.router.history_buffer import Flush, Key
from store.database import database_identity

log = logging.getLogger(__name__)

FORMAT = 2
#: Seconds a starting router waits for another one's adoption to finish.
ADOPT_WAIT = 10.0


def database_tag(url: str) -> str:
    return hashlib.sha256(database_identity(url).encode()).hexdigest()[:16]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:80] or "router"


def _encode(flush: Flush) -> bytes:
    part = {
        "flush_id": str(flush.flush_id),
        "rows": [[*key, n] for key, n in flush.rows if n],
        "new_accounts": [list(a) for a in flush.new_accounts],
    }
    return json.dumps(part, separators=(",", ":")).encode() + b"\n"


@dataclass
class _Parts:
    """The parts of one flush id read from a file, added up."""

    rows: dict[Key, int] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)

    def add(self, part: Any) -> None:
        rows = [((int(d), str(a), str(ip), str(p)), int(n)) for d, a, ip, p, n in part["rows"]]
        accounts = [(str(a), str(r)) for a, r in part["new_accounts"]]
        for key, n in rows:
            self.rows[key] = self.rows.get(key, 0) + n
        self.accounts.update(accounts)

    def flush(self, flush_id: uuid.UUID, now: float) -> Flush:
        return Flush(
            flush_id=flush_id,
            rows=sorted(self.rows.items()),
            new_accounts=sorted(self.accounts.items()),
            picks=sum(self.rows.values()),
            oldest=now,
        )


def read(path: Path) -> list[Flush]:
    """The flushes kept at ``path`` (none when there is no file). Lines cut short by a
    crash are skipped and counted; a file whose header is unreadable is moved aside
    (``*.damaged``) for an operator, never silently dropped."""
    try:
        lines = path.read_bytes().splitlines()
        if not lines:  # created, then killed before its header
            return []
        header = json.loads(lines[0])
        if header.get("format") == 1:  # one JSON document, before issue 13
            lines = [json.dumps(f).encode() for f in header["flushes"]]
        elif header.get("format") == FORMAT:
            lines = lines[1:]
        else:
            raise ValueError(f"unknown format {header.get('format')!r}")
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as exc:
        aside = path.with_name(path.name + ".damaged")
        with contextlib.suppress(OSError):
            path.replace(aside)
        log.error("history kept on disk is unreadable (%s); moved to %s for an operator", exc, aside)
        return []
    parts: dict[uuid.UUID, _Parts] = {}
    skipped = 0
    for line in lines:
        try:
            part = json.loads(line)
            parts.setdefault(uuid.UUID(part["flush_id"]), _Parts()).add(part)
        except (ValueError, KeyError, TypeError):
            skipped += 1
    if skipped:
        log.warning("history kept on disk: %d unreadable lines skipped path=%s (a write cut short)", skipped, path)
    now = time.monotonic()
    return [p.flush(flush_id, now) for flush_id, p in parts.items()]


class Spill:
    """This router's history file. Blocking calls: run them in a thread
    (``asyncio.to_thread``); a lock keeps them one at a time."""

    def __init__(self, folder: Path, tag: str, name: str, lock_fd: int) -> None:
        self.folder = folder
        self.tag = tag
        self.name = name
        self.path = folder / f"history-{tag}-{name}.jsonl"
        self._lock_fd = lock_fd
        self._lock = threading.Lock()
        self._out: IO[bytes] | None = None
        self._header = json.dumps({"format": FORMAT, "router": name}).encode() + b"\n"
        self.closed = False

    @classmethod
    def open(cls, folder: Path, url: str, router_id: str) -> tuple[Spill, list[Flush]]:
        """This router's file, locked, with every flush it owes from the start on: its
        own from an earlier run under the same name, and those of routers that are gone."""
        folder.mkdir(parents=True, exist_ok=True)
        tag = database_tag(url)
        with _exclusive(folder / f"history-{tag}.lock", ADOPT_WAIT) as adopting:
            spill = cls._claim(folder, tag, _safe(router_id))
            if not adopting:
                log.warning("another router is taking over history files; leaving them to it this time")
                return spill, []
            flushes, found = spill._adopt()
            if flushes:
                spill.replace(flushes)
            else:
                spill.path.unlink(missing_ok=True)
            for path in found:
                if path != spill.path:
                    path.unlink(missing_ok=True)
        if flushes:
            log.warning(
                "history kept on disk by a router that stopped: files=%d flushes=%d picks=%d; writing them first",
                sum(1 for p in found if p.suffix != ".lock"),
                len(flushes),
                sum(f.picks for f in flushes),
            )
        return spill, flushes

    @classmethod
    def _claim(cls, folder: Path, tag: str, name: str) -> Spill:
        for candidate in (name, f"{name}.{os.getpid()}"):
            fd = os.open(folder / f"history-{tag}-{candidate}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                log.warning("history file %s is held by a running router with the same id", candidate)
                continue
            return cls(folder, tag, candidate, fd)
        raise RuntimeError(f"cannot lock a history file in {folder}")

    def _adopt(self) -> tuple[list[Flush], list[Path]]:
        """Flushes of this router's earlier run and of routers not running; the files
        that held them (and their lock files), to remove once the flushes are in ours."""
        owed: dict[uuid.UUID, Flush] = {}
        found: list[Path] = []
        for data, lock in self._orphans():
            if data.exists():
                found.append(data)
            for flush in read(data):
                # The same id in two files: a copy cut short. Both hold the whole flush.
                if flush.flush_id not in owed or flush.picks > owed[flush.flush_id].picks:
                    owed[flush.flush_id] = flush
            if lock is not None:
                found.append(lock)
        return list(owed.values()), found

    def _orphans(self) -> Iterable[tuple[Path, Path | None]]:
        """(data file, lock file) of this database that no running router holds: this
        router's own from an earlier run, the routers' that are gone, and the one file of
        the format before issue 13."""
        prefix = f"history-{self.tag}-"
        names = {
            p.name[len(prefix) : -len(p.suffix)]
            for p in self.folder.glob(f"{prefix}*")
            if p.suffix in (".jsonl", ".lock")
        }
        yield self.folder / f"history-{self.tag}.json", None
        for name in sorted(names):
            data = self.folder / f"{prefix}{name}.jsonl"
            if name == self.name:
                yield data, None
                continue
            lock = self.folder / f"{prefix}{name}.lock"
            if _owner_gone(lock):
                yield data, lock

    # -- writing: every call holds ``_lock`` ------------------------------------------

    def append(self, parts: Sequence[Flush]) -> None:
        """Add ``parts`` (fsynced). Each must be new to the file: parts of one id add up."""
        with self._lock:
            if self.closed:
                return
            if self._out is None:
                self._out = self._open_for_append()
            self._out.write(b"".join(_encode(p) for p in parts))
            self._out.flush()
            os.fsync(self._out.fileno())

    def replace(self, flushes: Sequence[Flush]) -> None:
        """The file becomes exactly ``flushes`` (written aside, fsynced, renamed)."""
        with self._lock:
            if not self.closed:
                self._replace(flushes)

    def clear(self) -> None:
        """Nothing is owed: the file goes."""
        with self._lock:
            if not self.closed:
                self._close_out()
                self.path.unlink(missing_ok=True)

    def close(self, keep: Sequence[Flush]) -> None:
        """The last write: keep ``keep`` (or remove the file when empty), then release the
        name. After this, the file belongs to whichever router starts next."""
        with self._lock:
            if self.closed:
                return
            if keep:
                self._replace(keep)
            else:
                self.path.unlink(missing_ok=True)
            self._close_out()
            self.closed = True
            # The lock file goes first, then the lock: a router that finds the data file
            # without its lock file takes it over; until then the lock says "running".
            (self.folder / f"history-{self.tag}-{self.name}.lock").unlink(missing_ok=True)
            os.close(self._lock_fd)

    def _open_for_append(self) -> IO[bytes]:
        out = _private(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        if out.tell() == 0:
            out.write(self._header)
            out.flush()
            os.fsync(out.fileno())
            _sync_folder(self.folder)
        return out

    def _replace(self, flushes: Sequence[Flush]) -> None:
        self._close_out()
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with _private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC) as out:
            out.write(self._header + b"".join(_encode(f) for f in flushes))
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(self.path)
        _sync_folder(self.folder)

    def _close_out(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def _private(path: Path, flags: int) -> IO[bytes]:
    """``path`` opened for writing, readable by this user only: it names accounts and IPs."""
    out = os.fdopen(os.open(path, flags, 0o600), "ab" if flags & os.O_APPEND else "wb")
    out.seek(0, os.SEEK_END)
    return out


def _owner_gone(lock: Path) -> bool:
    """True when no running router holds ``lock`` (or there is none)."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # releases the lock: the caller holds the adoption lock meanwhile
    return True


@contextlib.contextmanager
def _exclusive(path: Path, wait: float) -> Iterator[bool]:
    """Hold ``flock`` on ``path`` for the block; yields False when it did not come in ``wait`` s."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    yield False
                    return
                time.sleep(0.05)
        yield True
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
