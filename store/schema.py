"""A plain-text description of the database schema, to compare against the snapshot.

``store/schema.snapshot`` is the schema the code expects. ``sendingip migrate
--write-snapshot`` rewrites it after a new migration; a test applies every migration to
an empty database and requires the description to equal the snapshot.
"""

from __future__ import annotations

from importlib import resources

import asyncpg

from store import queries


async def describe(conn: asyncpg.Connection) -> str:
    q = queries.load()
    lines: list[str] = []
    for row in await conn.fetch(q["schema_columns"]):
        flags = " NOT NULL" if row["not_null"] else ""
        default = f" DEFAULT {row['default_expr']}" if row["default_expr"] else ""
        generated = " GENERATED" if row["generated"] else ""
        lines.append(f"column {row['table_name']}.{row['column_name']} {row['type']}{flags}{default}{generated}")
    for row in await conn.fetch(q["schema_constraints"]):
        lines.append(f"constraint {row['table_name']} {row['definition']}")
    for row in await conn.fetch(q["schema_indexes"]):
        lines.append(f"index {row['table_name']} {row['definition']}")
    for row in await conn.fetch(q["schema_sequences"]):
        lines.append(f"sequence {row['name']} {row['type']}")
    return "\n".join(lines) + "\n"


def expected() -> str:
    return (resources.files("store") / "schema.snapshot").read_text(encoding="utf-8")


def snapshot_path() -> str:
    return str(resources.files("store") / "schema.snapshot")
