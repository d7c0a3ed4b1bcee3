"""The tests' embedded PostgreSQL keeps its data outside pytest's temporary folders: another
pytest run on the machine makes those 0700, and PostgreSQL (run as the ``pgserver`` user
under root) then lost its own data folder mid-run (tests/embedded_pg.py)."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import pytest

from tests.embedded_pg import PREFIX, own_folder

pytestmark = pytest.mark.integration


async def test_the_test_database_lives_outside_pytests_folders(
    db: asyncpg.Connection, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if os.environ.get("SENDINGIP_TEST_DATABASE_URL"):
        pytest.skip("an external test server: its data folder is its own")
    data = Path(await db.fetchval("SELECT current_setting('data_directory')")).resolve()
    basetemp = tmp_path_factory.getbasetemp().resolve()
    assert not data.is_relative_to(basetemp), data
    assert not any(part.startswith("pytest-of-") for part in data.parts), data
    assert data.parent.name.startswith(PREFIX), data


def test_own_folder_is_new_outside_pytest_and_removed_after(tmp_path_factory: pytest.TempPathFactory) -> None:
    with own_folder() as folder, own_folder() as other:
        assert folder.is_dir() and folder != other and not any(folder.iterdir())
        assert not folder.resolve().is_relative_to(tmp_path_factory.getbasetemp().resolve())
        (folder / "pg").mkdir()
    assert not folder.exists() and not other.exists()
