"""`make check-protos` (run by CI) fails when protos/ changed without regeneration."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def repo_copy(tmp_path: Path, repo_root: Path) -> Path:
    """The files the check reads, copied; the virtualenv is the running one."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(repo_root / name, tmp_path / name)
    shutil.copytree(repo_root / "protos", tmp_path / "protos")
    shutil.copytree(repo_root / "sendingip", tmp_path / "sendingip", ignore=shutil.ignore_patterns("__pycache__"))
    venv = Path(sys.prefix)
    assert (venv / "pyvenv.cfg").exists(), "the tests run from the project's virtualenv (make test)"
    (tmp_path / ".venv").symlink_to(venv)
    return tmp_path


def _check(folder: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAKEFLAGS": ""}
    return subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "check-protos"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )


def test_the_committed_code_matches_the_protos(repo_copy: Path) -> None:
    result = _check(repo_copy)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_changed_proto_without_regeneration_fails(repo_copy: Path) -> None:
    proto = repo_copy / "protos" / "sendingip" / "v1" / "router.proto"
    proto.write_text(proto.read_text().replace("bool overflow = 7;", "bool overflow = 7;\n  string note = 8;"))
    result = _check(repo_copy)
    assert result.returncode != 0
    assert "run 'make protos'" in result.stderr
