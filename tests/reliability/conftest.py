"""Fixtures of the reliability tests: PostgreSQL of their own (to stop and start) and
the short/long (``soak``) split."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.embedded_pg import own_folder
from tests.support.processes import PrivatePostgres
from tests.support.soak import SOAK


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="a soak test: run with SENDINGIP_SOAK=1 (make soak)")
    for item in items:
        if "soak" in item.keywords and not SOAK:
            item.add_marker(skip)


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """An embedded PostgreSQL of this test's own: the test may stop and start it."""
    with own_folder() as folder:
        pg = PrivatePostgres(folder / "pg")
        try:
            yield pg
        finally:
            pg.close()
