"""Following a log file (cli/follow_postfix/reader.py) and the state file (state.py), on real
files in a temporary folder: partial lines, long lines, rotation by rename and by copy and
truncate, compressed rotated files, a restart after rotations, the atomic state file."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from cli.follow_postfix.reader import LogReader, Position
from cli.follow_postfix.state import FollowState, OutcomeRow, Report, StateError, StateFile, default_path


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _append(path: Path, *text: str) -> None:
    with open(path, "ab") as f:
        f.write("".join(text).encode())


def _all(reader: LogReader) -> list[str]:
    out: list[str] = []
    while lines := reader.read(1000):
        out += [line.decode() for line in lines]
    return out


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "mail.log"
    path.write_bytes(b"")
    return path


@pytest.fixture(autouse=True)
def _closed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every reader a test starts is closed after it (pytest turns a leaked file into an error)."""
    started: list[LogReader] = []
    original = LogReader.start

    def start(self: LogReader, saved: Position | None) -> None:
        started.append(self)
        original(self, saved)

    monkeypatch.setattr(LogReader, "start", start)
    yield
    for reader in started:
        reader.close()


def test_only_whole_lines_are_handed_out(log: Path) -> None:
    reader = LogReader(log)
    reader.start(None)
    _append(log, "one\ntw")
    assert _all(reader) == ["one"]
    assert reader.position().offset == 4  # the offset stays at the start of the unfinished line
    _append(log, "o\nthree\n")
    assert _all(reader) == ["two", "three"]
    assert reader.position().offset == len("one\ntwo\nthree\n")


def test_a_line_too_long_is_cut_and_the_next_one_read(log: Path) -> None:
    reader = LogReader(log, max_line=100)
    reader.start(None)
    _append(log, "x" * 300_000 + "\nnext\n")
    lines = _all(reader)
    assert lines == ["x" * 100, "next"]
    assert reader.position().offset == 300_006


def test_rotation_by_rename_reads_the_old_file_to_its_end_then_the_new_one(log: Path) -> None:
    clock = Clock()
    reader = LogReader(log, grace=2.0, clock=clock)
    reader.start(None)
    _append(log, "a1\na2\n")
    assert _all(reader) == ["a1", "a2"]
    _append(log, "a3\na4-sta")  # a line cut by the rotation: its writer finishes it in the old file
    os.rename(log, log.with_name("mail.log.1"))
    log.write_bytes(b"")
    assert _all(reader) == ["a3"]  # the new file is empty: the writer may still write to the old one
    _append(log.with_name("mail.log.1"), "rt\na5")  # ... it does
    clock.now = 1.0
    assert _all(reader) == ["a4-start"]
    clock.now = 2.5  # grace over: the old file is finished (its last line has no newline)
    _append(log, "b1\n")
    assert _all(reader) == ["a5", "b1"]
    assert reader.position() == Position(str(log), *_id(log), 3, reader.position().fingerprint, 3)


def test_a_non_empty_new_file_means_the_writer_moved(log: Path) -> None:
    reader = LogReader(log, grace=3600.0)
    reader.start(None)
    _append(log, "a1\n")
    os.rename(log, log.with_name("mail.log.1"))
    _append(log, "b1\n")
    assert _all(reader) == ["a1", "b1"]


def test_copy_and_truncate_reads_the_rest_from_the_copy(log: Path) -> None:
    reader = LogReader(log)
    reader.start(None)
    _append(log, "a1-" + "x" * 2000 + "\n")
    assert len(_all(reader)) == 1
    _append(log, "a2\n")  # written after our read, before the copy
    shutil.copyfile(log, log.with_name("mail.log.1"))
    with open(log, "r+b") as f:
        f.truncate(0)
    _append(log, "b1\n")
    assert _all(reader) == ["a2", "b1"]


def test_truncated_with_no_copy_warns_how_many_bytes_and_starts_over(
    log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reader = LogReader(log)
    reader.start(None)
    _append(log, "a1\na2\n")
    assert _all(reader) == ["a1", "a2"]
    with open(log, "r+b") as f:
        f.truncate(0)
    _append(log, "b\n")
    assert _all(reader) == ["b"]
    assert "after byte 6 are lost" in caplog.text


def test_restart_resumes_at_the_offset_and_reads_what_came_meanwhile(log: Path) -> None:
    reader = LogReader(log)
    reader.start(None)
    _append(log, "a1\na2\n")
    assert _all(reader) == ["a1", "a2"]
    saved = reader.position()
    reader.close()
    _append(log, "a3\n")
    again = LogReader(log)
    again.start(saved)
    assert _all(again) == ["a3"]


def test_restart_after_two_rotations_and_compression_loses_nothing(log: Path) -> None:
    reader = LogReader(log)
    reader.start(None)
    _append(log, "a1-" + "x" * 3000 + "\n")
    assert len(_all(reader)) == 1
    saved = reader.position()
    reader.close()
    # While stopped: more lines, rotated, compressed (a new inode), rotated again.
    _append(log, "a2\n")
    os.rename(log, log.with_name("mail.log.2"))
    with open(log.with_name("mail.log.2"), "rb") as src, gzip.open(log.with_name("mail.log.2.gz"), "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.utime(log.with_name("mail.log.2.gz"), (1_000_000, 1_000_000))
    os.unlink(log.with_name("mail.log.2"))
    _append(log, "b1\n")
    os.rename(log, log.with_name("mail.log.1"))
    os.utime(log.with_name("mail.log.1"), (2_000_000, 2_000_000))
    _append(log, "c1\n")
    log.with_name("mail.log.state.json").write_text("{}")  # not a rotated file: never read
    again = LogReader(log)
    again.start(saved)
    assert _all(again) == ["a2", "b1", "c1"]


def test_a_saved_position_in_a_file_that_is_gone_warns_and_starts_over(
    log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reader = LogReader(log)
    reader.start(None)
    _append(log, "a1\n")
    assert _all(reader) == ["a1"]
    saved = reader.position()
    reader.close()
    _append(log, "a2\n")
    os.unlink(log)
    _append(log, "b1\n")
    again = LogReader(log)
    again.start(saved)
    assert _all(again) == ["b1"]
    assert "after byte 3 are lost" in caplog.text


def test_a_reused_inode_with_other_content_is_not_resumed_at_the_offset(log: Path) -> None:
    reader = LogReader(log)
    reader.start(None)
    _append(log, "old line one\n")
    assert _all(reader) == ["old line one"]
    saved = reader.position()
    reader.close()
    with open(log, "wb") as f:  # same inode, rewritten
        f.write(b"new content here\nmore\n")
    again = LogReader(log)
    again.start(saved)
    assert _all(again) == ["new content here", "more"]


def test_the_position_between_two_files_is_the_end_of_the_finished_one(log: Path) -> None:
    reader = LogReader(log, grace=0.0)
    reader.start(None)
    _append(log, "a1\n")
    os.rename(log, log.with_name("mail.log.1"))
    log.write_bytes(b"")
    assert _all(reader) == ["a1"]
    finished = reader.position()
    assert ((finished.device, finished.inode), finished.offset) == (_id(log.with_name("mail.log.1")), 3)
    reader.close()
    # A restart there finds the finished file, reads nothing more of it, then the new one.
    _append(log, "b1\n")
    again = LogReader(log)
    again.start(finished)
    assert _all(again) == ["b1"]


def _id(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


# -- the state file ------------------------------------------------------------------------


def test_state_round_trips_and_is_replaced_atomically(tmp_path: Path) -> None:
    store = StateFile(tmp_path / "s" / "state.json")
    store.lock()
    assert store.load() is None
    state = FollowState(
        log="/var/log/mail.log",
        position=Position("/var/log/mail.log", 1, 2, 300, "ab" * 32, 400),
        queue_ids=[("4F2A91C3B7", "acme")],
        pending=[Report("r1", [OutcomeRow(date(2026, 12, 1), "acme", "192.0.2.1", "google", 1, 2, 3, 4)])],
    )
    store.save(state)
    assert store.load() == state
    assert not (tmp_path / "s" / "state.json.tmp").exists()
    store.unlock()


def test_a_damaged_state_file_is_an_error_not_a_fresh_start(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    for text in ("{not json", json.dumps({"format": "other"}), json.dumps({"format": "sendingip-follow-postfix/1"})):
        path.write_text(text)
        with pytest.raises(StateError, match="is not a follow-postfix state file"):
            StateFile(path).load()


def test_one_follower_per_state_file(tmp_path: Path) -> None:
    first = StateFile(tmp_path / "state.json")
    first.lock()
    with pytest.raises(StateError, match="in use by another"):
        StateFile(tmp_path / "state.json").lock()
    first.unlock()
    StateFile(tmp_path / "state.json").lock()


def test_default_state_path_is_per_log_file_under_the_data_dir(tmp_path: Path) -> None:
    a = default_path(tmp_path, Path("/var/log/mail.log"))
    b = default_path(tmp_path, Path("/var/log/mail-2.log"))
    assert a.parent == tmp_path / "follow-postfix"
    assert a.name.startswith("var_log_mail.log-") and a != b
