"""The embedded PostgreSQL (the pgserver wheel) is the version docs/operations.md's Database section
checked against PostgreSQL's security releases. A pgserver upgrade that brings another
version fails here, as a prompt to check again and update that paragraph."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

#: What docs/operations.md's Database section discusses.
DOCUMENTED = "16.2"


def test_the_embedded_postgresql_is_the_documented_version() -> None:
    spec = importlib.util.find_spec("pgserver")
    assert spec is not None and spec.origin is not None
    postgres = Path(spec.origin).parent / "pginstall" / "bin" / "postgres"
    out = subprocess.run([postgres, "--version"], capture_output=True, text=True, check=True, timeout=30).stdout
    match = re.fullmatch(r"postgres \(PostgreSQL\) (\S+)\s*", out)
    assert match, out
    assert match[1] == DOCUMENTED, f"pgserver now embeds PostgreSQL {match[1]}: recheck docs/operations.md's Database"


def test_the_operations_doc_names_that_version() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    database = doc.split("\n## Database\n", 1)[1].split("\n## ", 1)[0]
    assert f"PostgreSQL {DOCUMENTED}" in database
