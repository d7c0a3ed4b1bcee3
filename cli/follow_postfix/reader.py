"""Following one log file, line by line, through rotation and truncation.

A position is (device, inode, offset) plus a fingerprint: the SHA-256 of the file's first
``min(offset, 1 KiB)`` bytes. The inode says which file we were reading while it exists
under any name; the fingerprint says it is still the same content (an inode can be reused
once a file is deleted) and finds our file again when only a copy of it is left
(``copytruncate``, or a rotated file compressed since: ``.gz``, ``.bz2``, ``.xz`` are read
through). Only whole lines are handed out, so the offset always sits at a line's start.

While following:

* **Replaced** (LOGFILE now names another inode: ``postfix logrotate``, logrotate's
  ``create``): the old file, still open, is read to its end first; its writer may still
  be writing to it, so while the new file is empty the switch waits ``grace`` seconds.
  Then the new file is read from byte 0.
* **Truncated** (same inode, now shorter than the offset: ``copytruncate``): the rest is
  read from the copy when a rotated file with our fingerprint is found, then LOGFILE from
  byte 0. Lines written between the copy and the truncation are gone; nobody can read them.

At start, from a saved position: when LOGFILE is still that file, it resumes at the
offset. Otherwise it looks for that file among LOGFILE's rotated siblings (``LOGFILE.1``,
``LOGFILE-20261201``, ``LOGFILE.20261201-003218.gz``: the name, ``.`` or ``-``, a digit),
by inode, else by fingerprint; reads its rest, then every sibling written to later (by
mtime, oldest first: rotated more than once while we were stopped), then LOGFILE from 0.
When it is nowhere, a warning says from which byte on lines were lost.

Lines longer than ``max_line`` bytes are handed out cut to that length (the rest is
skipped), so a line without an end never grows memory.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import logging
import lzma
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

FINGERPRINT_BYTES = 1024
MAX_LINE_BYTES = 16 * 1024
CHUNK = 64 * 1024
#: At most this many rotated siblings are looked at (the newest).
MAX_SIBLINGS = 32

COMPRESSED = (".gz", ".bz2", ".xz")
_READ_ERRORS = (OSError, EOFError, lzma.LZMAError)


def fingerprint(head: bytes) -> str:
    return hashlib.sha256(head).hexdigest()


@dataclass(frozen=True)
class Position:
    """Where reading stopped: the file (by identity) and the offset of the next line."""

    #: The name the file was opened under (for logs: it may have been renamed since).
    path: str
    device: int
    inode: int
    offset: int
    #: SHA-256 (hex) of the file's first ``min(offset, FINGERPRINT_BYTES)`` bytes.
    fingerprint: str
    #: The file's size when the position was taken: bytes known to be there, unread.
    size: int


class Source:
    """One open file: its identity, and the offset up to which lines were handed out."""

    def __init__(self, path: Path, raw: BinaryIO, handle: BinaryIO, compressed: bool) -> None:
        st = os.fstat(raw.fileno())
        self.path = path
        self.device, self.inode, self.mtime = st.st_dev, st.st_ino, st.st_mtime
        self.compressed = compressed
        self._raw = raw
        self._handle = handle
        self.offset = 0
        self._buffer = bytearray()
        self._start = 0
        self._skipping = False
        #: The file's first bytes (up to FINGERPRINT_BYTES) as read, kept: once the file is
        #: truncated, its fingerprint must still say what it held.
        self._head = b""
        if compressed:
            self._head = self._read(FINGERPRINT_BYTES)
            handle.seek(0)
        else:
            self._head = os.pread(raw.fileno(), FINGERPRINT_BYTES, 0)

    @classmethod
    def open(cls, path: Path) -> Source:
        """Raises OSError when the file cannot be opened."""
        raw: BinaryIO = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        try:
            return cls(path, raw, _decompressing(path.suffix, raw), path.suffix in COMPRESSED)
        except BaseException:
            raw.close()
            raise

    @property
    def identity(self) -> tuple[int, int]:
        return self.device, self.inode

    def size(self) -> int:
        """Bytes in the file (for a compressed one: the compressed size)."""
        return os.fstat(self._raw.fileno()).st_size

    def head(self, n: int) -> bytes:
        return self._head[: min(n, FINGERPRINT_BYTES)]

    def position(self) -> Position:
        head = self.head(min(self.offset, FINGERPRINT_BYTES))
        return Position(str(self.path), self.device, self.inode, self.offset, fingerprint(head), self.size())

    def fits(self, saved: Position) -> bool:
        """The same content as ``saved`` up to its offset (the start, at least; the length)."""
        if fingerprint(self.head(min(saved.offset, FINGERPRINT_BYTES))) != saved.fingerprint:
            return False
        return self.compressed or self.size() >= saved.offset

    def skip_to(self, offset: int) -> bool:
        """Continue at ``offset``; False when the file is shorter."""
        if not self.compressed:
            if self.size() < offset:
                return False
            self._handle.seek(offset)
            self.offset = offset
            return True
        left = offset
        while left > 0:
            chunk = self._read(min(CHUNK, left))
            if not chunk:
                return False
            left -= len(chunk)
        self.offset = offset
        return True

    def lines(self, limit: int, max_line: int) -> list[bytes]:
        """Up to ``limit`` whole lines (without their newline), from the offset on."""
        out: list[bytes] = []
        buf, start = self._buffer, self._start
        while len(out) < limit:
            nl = buf.find(b"\n", start)
            if nl >= 0:
                if self._skipping:
                    self._skipping = False
                else:
                    out.append(bytes(buf[start : min(nl, start + max_line)]))
                self.offset += nl + 1 - start
                start = nl + 1
                continue
            waiting = len(buf) - start
            if waiting > max_line:  # a line too long: hand out its start, skip the rest
                if not self._skipping:
                    out.append(bytes(buf[start : start + max_line]))
                    self._skipping = True
                self.offset += waiting
                start = len(buf)
            del buf[:start]
            start = 0
            chunk = self._read(CHUNK)
            if not chunk:
                break
            buf += chunk
        self._start = start
        return out

    def rest(self, max_line: int) -> bytes | None:
        """The last line when it has no newline (only once the file is finished)."""
        tail = bytes(self._buffer[self._start :])
        self._buffer.clear()
        self._start = 0
        self.offset += len(tail)
        if self._skipping or not tail:
            return None
        return tail[:max_line]

    def close(self) -> None:
        if self._handle is not self._raw:
            self._handle.close()
        self._raw.close()

    def _read(self, n: int) -> bytes:
        try:
            data = self._handle.read(n) or b""
        except _READ_ERRORS as exc:  # a damaged or cut-off compressed file: read what there was
            log.warning("log_read_error file=%s offset=%d error=%s", self.path, self.offset, exc)
            return b""
        if data and not self.compressed and len(self._head) < FINGERPRINT_BYTES:
            self._head = os.pread(self._raw.fileno(), FINGERPRINT_BYTES, 0)  # a young file: its start grew
        return data


class LogReader:
    """Whole lines of LOGFILE and, while it is rotated, of the file it used to be."""

    def __init__(
        self,
        path: Path,
        *,
        max_line: int = MAX_LINE_BYTES,
        grace: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.max_line = max_line
        self.grace = grace
        self.clock = clock
        #: What to read, in order: the current file first, LOGFILE itself last.
        self._chain: list[Source] = []
        self._finished: Position | None = None
        self._replaced_at: float | None = None

    def start(self, saved: Position | None) -> None:
        """Open LOGFILE (OSError when it cannot be) and find where ``saved`` left off."""
        live = Source.open(self.path)
        if saved is None:
            self._chain = [live]
            return
        if live.identity == (saved.device, saved.inode) and live.fits(saved) and live.skip_to(saved.offset):
            self._chain = [live]
            return
        self._chain = [*self._catch_up(saved, live), live]

    def position(self) -> Position:
        current = self._chain[0]
        if current.offset == 0 and self._finished is not None:
            # The file we finished, at its end, finds its successors by mtime after a
            # restart; a file at offset 0 has no content to be found again by.
            return self._finished
        return current.position()

    def read(self, limit: int) -> list[bytes]:
        """Up to ``limit`` whole lines; fewer (or none) when everything written is read."""
        out: list[bytes] = []
        while len(out) < limit:
            current = self._chain[0]
            out += current.lines(limit - len(out), self.max_line)
            if len(out) >= limit:
                break
            if len(self._chain) > 1:
                if (tail := current.rest(self.max_line)) is not None:
                    out.append(tail)
                self._finish(current)
            elif not self._follow_live(current):
                break
        if self._finished is not None and self._chain[0].offset > 0:
            self._finished = None
        return out

    def close(self) -> None:
        for source in self._chain:
            source.close()
        self._chain = []

    def _finish(self, source: Source) -> None:
        self._finished = source.position()
        source.close()
        self._chain.pop(0)

    def _follow_live(self, current: Source) -> bool:
        """At the end of LOGFILE: True when it was replaced or truncated (more to read)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return False  # moved away, the new one not created yet: keep the old one open
        if (st.st_dev, st.st_ino) != current.identity:
            return self._replaced(st.st_size)
        if st.st_size < current.offset:
            self._truncated(current)
            return True
        return False

    def _replaced(self, new_size: int) -> bool:
        now = self.clock()
        if self._replaced_at is None:
            self._replaced_at = now
        if new_size == 0 and now - self._replaced_at < self.grace:
            return False  # its writer may not have moved to the new file yet
        try:
            new = Source.open(self.path)
        except OSError:
            return False
        old = self._chain[0]
        log.info("log_rotated old=%s finished_at=%d new=%s inode=%d", old.path, old.offset, self.path, new.inode)
        self._replaced_at = None
        self._chain.append(new)
        return True

    def _truncated(self, current: Source) -> None:
        saved = current.position()
        current.close()
        live = Source.open(self.path)
        self._chain = [*self._catch_up(saved, live, truncated=True), live]

    def _catch_up(self, saved: Position, live: Source, *, truncated: bool = False) -> list[Source]:
        """The rest of the file ``saved`` was in, and the rotated files written since."""
        siblings = self._siblings()
        found = self._find(saved, siblings, live)
        if found is None:
            what = "was truncated" if truncated or live.identity == (saved.device, saved.inode) else "is gone"
            log.warning(
                "log_lines_lost file=%s inode=%d: it %s and no rotated copy of it was found; lines written to it "
                "after byte %d are lost (at least %d bytes known unread); reading %s from byte 0",
                saved.path, saved.inode, what, saved.offset, max(0, saved.size - saved.offset), self.path,
            )  # fmt: skip
            return []
        seen = {fingerprint(found.head(FINGERPRINT_BYTES)), fingerprint(live.head(FINGERPRINT_BYTES))}
        later = []
        for path, mtime in siblings:
            if mtime <= found.mtime or path == found.path:
                continue
            source = _open(path)
            if source is None or fingerprint(source.head(FINGERPRINT_BYTES)) in seen:
                if source is not None:
                    source.close()
                continue
            seen.add(fingerprint(source.head(FINGERPRINT_BYTES)))
            later.append(source)
        log.warning(
            "log_catch_up: reading the rest of %s from byte %d, then %d rotated file(s) written since, then %s",
            found.path, saved.offset, len(later), self.path,
        )  # fmt: skip
        return [found, *later]

    def _find(self, saved: Position, siblings: list[tuple[Path, float]], live: Source) -> Source | None:
        """The sibling that holds ``saved``'s file, skipped to its offset: by inode, else by content."""
        by_inode = [p for p, _ in siblings if _identity(p) == (saved.device, saved.inode)]
        # Only a position past the first byte has content to be recognised by.
        by_content = [p for p, _ in siblings if p not in by_inode] if saved.offset > 0 else []
        for path in (*by_inode, *by_content):
            source = _open(path)
            if source is None:
                continue
            if source.identity != live.identity and source.fits(saved) and source.skip_to(saved.offset):
                return source
            source.close()
        return None

    def _siblings(self) -> list[tuple[Path, float]]:
        """LOGFILE's rotated files, newest first: the name, ``.`` or ``-``, then a digit."""
        pattern = re.compile(re.escape(self.path.name) + r"[.-]\d")
        found = []
        try:
            entries = list(os.scandir(self.path.parent))
        except OSError:
            return []
        for entry in entries:
            if pattern.match(entry.name):
                try:
                    st = entry.stat()
                except OSError:
                    continue
                if entry.is_file():
                    found.append((Path(entry.path), st.st_mtime))
        found.sort(key=lambda item: item[1], reverse=True)
        return found[:MAX_SIBLINGS]


def _decompressing(suffix: str, raw: BinaryIO) -> BinaryIO:
    if suffix == ".gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if suffix == ".bz2":
        return bz2.BZ2File(raw, "rb")  # type: ignore[return-value]
    if suffix == ".xz":
        return lzma.LZMAFile(raw, "rb")  # type: ignore[return-value]
    return raw


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _open(path: Path) -> Source | None:
    try:
        return Source.open(path)
    except (*_READ_ERRORS, ValueError):
        return None
