"""The first-start admin key is also written to a file only its owner can read, and the
log and the banner say where."""

from __future__ import annotations

import io
import logging
import os
import stat
from pathlib import Path

import pytest

from server.auth.bootstrap import ensure_admin_key

pytestmark = pytest.mark.integration


async def test_the_bootstrap_key_goes_to_a_0600_file_and_the_log_says_where(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="server.auth.bootstrap")
    path = tmp_path / "data" / "admin-key"  # its folder does not exist yet
    out = io.StringIO()
    old_umask = os.umask(0)  # a permissive umask must not widen the file's mode
    try:
        key_id = await ensure_admin_key(db_url, out, key_file=path)
    finally:
        os.umask(old_umask)
    assert key_id is not None
    token = out.getvalue().split("admin key (shown once): ", 1)[1].split()[0]
    assert token.startswith(f"sip_{key_id}_")
    assert path.read_text() == token + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert str(path) in out.getvalue()
    logged = [r.getMessage() for r in caplog.records if r.name == "server.auth.bootstrap"]
    assert any(str(path) in line and key_id in line for line in logged), logged
    assert not any(token.split("_", 2)[2] in line for line in logged)  # the secret never reaches the log
    # A later start (keys exist) leaves the file alone.
    assert await ensure_admin_key(db_url, io.StringIO(), key_file=path) is None
    assert path.read_text() == token + "\n"


async def test_an_unwritable_key_file_still_prints_the_key(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    out = io.StringIO()
    assert await ensure_admin_key(db_url, out, key_file=blocker / "admin-key") is not None
    assert "admin key (shown once): sip_" in out.getvalue()
    assert "could not write the bootstrap admin key" in caplog.text
