"""A folder of its own for each embedded PostgreSQL the tests start.

pytest makes its base temporary folder (``/tmp/pytest-of-<user>``) mode 0700 whenever a run
starts. As root, pgserver runs PostgreSQL as its own ``pgserver`` user, which then can no
longer reach a data folder below it: a second pytest run on the same machine broke the first
one's database. So the tests' embedded servers live in ``/tmp/sendingip-test-pg-*`` instead,
outside pytest's folders, and are removed when the test (or the run) ends.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PREFIX = "sendingip-test-pg-"


@contextmanager
def own_folder() -> Iterator[Path]:
    """A new empty folder outside pytest's temporary folders, removed on exit."""
    path = Path(tempfile.mkdtemp(prefix=PREFIX))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
