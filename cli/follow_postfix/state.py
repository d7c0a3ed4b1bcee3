"""The follower's state file: position, queue-id attribution and the pending report, together.

Together, because they only make sense together: the queue-id map is what the lines up
to the position taught us, and the pending report is what those lines counted. The file
is replaced whole (write a temporary file, fsync, rename, fsync the folder), so after a
crash it holds either the old state or the new one, never half of each.

Write-ahead: a report is saved here as pending, with the position its lines end at,
before it is sent; it leaves the file once the server has answered OK. So after a crash
the pending report is sent again with its ``report_id`` (the server applies an id once),
and reading resumes after its lines: nothing is lost, nothing counted twice.

One follower per state file: an exclusive ``flock`` on ``STATE.lock`` for the process's
life (two followers on one file would each report the same lines).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from cli.follow_postfix.reader import Position
from store.state_file import write_atomically

FORMAT = "sendingip-follow-postfix/1"


class StateError(Exception):
    """A state file that cannot be used; the message says what to do."""


@dataclass(frozen=True)
class OutcomeRow:
    day: date
    account_id: str
    ip: str
    mailbox_provider: str
    delivered: int = 0
    deferred: int = 0
    bounced: int = 0
    throttled: int = 0

    def total(self) -> int:
        return self.delivered + self.deferred + self.bounced + self.throttled


@dataclass
class Report:
    report_id: str
    outcomes: list[OutcomeRow]


@dataclass
class FollowState:
    #: The LOGFILE this state belongs to (absolute).
    log: str
    position: Position | None = None
    #: (queue id, account), oldest first.
    queue_ids: list[tuple[str, str]] = field(default_factory=list)
    #: Reports saved but not yet acknowledged, in the order they are sent.
    pending: list[Report] = field(default_factory=list)


def default_path(data_dir: Path, logfile: Path) -> Path:
    """``DATA_DIR/follow-postfix/<the log's path>-<hash>.json``: one state per log file."""
    absolute = str(logfile.absolute())
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", absolute.strip("/"))[-80:]
    digest = hashlib.sha256(absolute.encode()).hexdigest()[:12]
    return data_dir / "follow-postfix" / f"{slug}-{digest}.json"


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_fd: int | None = None

    def lock(self) -> None:
        """Hold ``STATE.lock`` exclusively; StateError when another follower holds it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateError(f"{self.path}.lock: {exc.strerror or exc} (choose another place with --state)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateError(
                f"{self.path} is in use by another `sendingip outcomes follow-postfix` (it holds {self.path}.lock): "
                "one follower per log file, or each would report the same lines"
            ) from None
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def load(self) -> FollowState | None:
        """The saved state; None when there is none yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"{self.path}: {exc.strerror}") from None
        try:
            return _decode(json.loads(text))
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise StateError(
                f"{self.path} is not a follow-postfix state file ({type(exc).__name__}: {exc}); move it away to "
                "start over, knowing that the log is then read again from its start"
            ) from None

    def save(self, state: FollowState) -> None:
        """Replace the file atomically, durably."""
        write_atomically(self.path, json.dumps(_encode(state), separators=(",", ":")).encode())


def _encode(state: FollowState) -> dict[str, Any]:
    p = state.position
    return {
        "format": FORMAT,
        "log": state.log,
        "position": None if p is None else [p.path, p.device, p.inode, p.offset, p.fingerprint, p.size],
        "queue_ids": state.queue_ids,
        "pending": [
            {
                "report_id": r.report_id,
                "outcomes": [
                    [o.day.isoformat(), o.account_id, o.ip, o.mailbox_provider, *_counts(o)] for o in r.outcomes
                ],
            }
            for r in state.pending
        ],
    }


def _counts(o: OutcomeRow) -> tuple[int, int, int, int]:
    return o.delivered, o.deferred, o.bounced, o.throttled


def _decode(data: Any) -> FollowState:
    if data.get("format") != FORMAT:
        raise ValueError(f"format {data.get('format')!r}, expected {FORMAT!r}")
    raw = data["position"]
    position = None
    if raw is not None:
        path, device, inode, offset, digest, size = raw
        position = Position(str(path), int(device), int(inode), int(offset), str(digest), int(size))
    pending = [
        Report(
            str(r["report_id"]),
            [
                OutcomeRow(date.fromisoformat(o[0]), str(o[1]), str(o[2]), str(o[3]), *(int(n) for n in o[4:8]))
                for o in r["outcomes"]
            ],
        )
        for r in data["pending"]
    ]
    queue_ids = [(str(q), str(a)) for q, a in data["queue_ids"]]
    return FollowState(str(data["log"]), position, queue_ids, pending)
