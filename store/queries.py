"""Named SQL queries, loaded once from ``store/queries/*.sql``.

A file holds blocks that each start with a line ``-- name: some_query``; the block's
text up to the next such line is the query. Python passes parameters; it never builds
SQL from strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


class Queries(Mapping[str, str]):
    def __init__(self, queries: Mapping[str, str]) -> None:
        self._queries = dict(queries)

    def __getitem__(self, name: str) -> str:
        try:
            return self._queries[name]
        except KeyError:
            raise KeyError(f"no SQL query named {name!r} in store/queries") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._queries)

    def __len__(self) -> int:
        return len(self._queries)


def parse(text: str, *, source: str = "<sql>") -> dict[str, str]:
    """The named blocks of one file's text."""
    parts = _NAME.split(text)
    if parts[0].strip() and not all(line.startswith("--") or not line.strip() for line in parts[0].splitlines()):
        raise ValueError(f"{source}: SQL before the first '-- name:' line")
    found: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in found:
            raise ValueError(f"{source}: query {name!r} defined twice")
        sql = body.strip()
        if not sql:
            raise ValueError(f"{source}: query {name!r} is empty")
        found[name] = sql
    return found


@cache
def load() -> Queries:
    """Every named query of the package, by name (names are unique across files)."""
    found: dict[str, str] = {}
    folder = resources.files("store") / "queries"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        for name, sql in parse(entry.read_text(encoding="utf-8"), source=entry.name).items():
            if name in found:
                raise ValueError(f"{entry.name}: query {name!r} is also defined in another file")
            found[name] = sql
    return Queries(found)
