from __future__ import annotations

import ast
from pathlib import Path

import pytest

from store import queries


def test_blocks_are_split_by_name() -> None:
    text = "-- a comment\n-- name: first\nSELECT 1\n\n-- name: second\nSELECT $1::int\n"
    assert queries.parse(text) == {"first": "SELECT 1", "second": "SELECT $1::int"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT 1\n-- name: a\nSELECT 2", "before the first"),
        ("-- name: a\nSELECT 1\n-- name: a\nSELECT 2", "defined twice"),
        ("-- name: a\n\n-- name: b\nSELECT 2", "is empty"),
    ],
)
def test_malformed_files_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        queries.parse(text, source="x.sql")


def test_an_unknown_name_says_which() -> None:
    with pytest.raises(KeyError, match="no SQL query named 'nope'"):
        queries.load()["nope"]


#: Where the code that runs the queries lives (tests do not count: a query only a test
#: runs is dead code).
CODE = ("server", "workers", "store", "cli", "bench")


def _string_literals() -> set[str]:
    root = Path(__file__).resolve().parents[2]
    found: set[str] = set()
    for top in CODE:
        for path in (root / top).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            found.update(n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str))
    return found


def test_every_named_query_is_used_by_name() -> None:
    unused = sorted(set(queries.load()) - _string_literals())
    assert unused == [], "named in store/queries/*.sql but never in the code: delete them, or use them"
