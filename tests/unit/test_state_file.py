"""``store.state_file``: a local file is replaced whole, owner-only, or left as it was."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from store.state_file import write_atomically


def test_the_file_is_replaced_whole_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"old")
    old_umask = os.umask(0)
    try:
        write_atomically(path, b"new")
    finally:
        os.umask(old_umask)
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    path = tmp_path / "taken"
    path.mkdir()  # a folder where the file should go: the rename fails
    (path / "inside").write_bytes(b"kept")
    with pytest.raises(OSError):
        write_atomically(path, b"new")
    assert (path / "inside").read_bytes() == b"kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
