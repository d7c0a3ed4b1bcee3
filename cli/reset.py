"""`sendingip reset --yes`: start over with a new, empty embedded database.

Only the embedded database: with ``SENDINGIP_DATABASE_URL`` set it refuses (that database
is the operator's to drop). It removes, from the data folder the other commands would use
(``store.embedded.find_data_dir``), the embedded PostgreSQL (``postgres/``), the first-start
admin key, the note of a local server's addresses, and the router's files of that database
(``router/*-<tag>*``: snapshot, saved keys, unflushed history; named after the database's
address, which a new embedded database in the same folder has again, so they would be taken
for its own). Files of other databases stay. It refuses while a server or any command still uses that PostgreSQL. The next
``make run`` (``sendingip serve --init``) creates a fresh database and prints a new admin key.
Without ``--yes`` it says what it would remove.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cli import local_server
from server.router.spill import database_tag
from store.embedded import EmbeddedPostgres, find_data_dir, has_database, recorded_data_dir, state_file

#: What reset removes from the data folder, beside the router's files of the embedded database.
REMOVED = ("postgres", "admin-key", local_server.SERVER_FILE)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reset",
        help="delete the embedded database (./.data) to start over; never a SENDINGIP_DATABASE_URL one",
        description="Removes the embedded PostgreSQL, its admin key and the router's snapshots from the data "
        "folder the other commands use. Refuses with SENDINGIP_DATABASE_URL set, or while a server or another "
        "command uses that database.",
    )
    parser.add_argument("--yes", action="store_true", help="remove them (without it: say what would go)")
    parser.set_defaults(func=command)


class Refused(Exception):
    pass


def data_folder(env: Mapping[str, str], cwd: Path) -> Path | None:
    """The folder holding the embedded database the other commands would use, or None."""
    if env.get("SENDINGIP_DATABASE_URL"):
        raise Refused(
            "SENDINGIP_DATABASE_URL is set: reset deletes only the embedded database; drop that database "
            "with PostgreSQL's own tools (dropdb), or unset the variable to reset the embedded one"
        )
    found = find_data_dir(env, cwd)
    if found.has_database:
        return found.folder
    return found.elsewhere


def check_unused(folder: Path) -> None:
    """Refuse while a local server or any process runs the embedded PostgreSQL."""
    server = local_server.running_pid(folder)
    if server is not None:
        raise Refused(f"a sendingip server (pid {server}) uses {folder}: stop it first (Ctrl-C in its terminal)")
    postmaster = _postmaster_pid(folder / "postgres")
    if postmaster is not None:
        raise Refused(
            f"the embedded PostgreSQL of {folder} is running (pid {postmaster}): stop the sendingip "
            "commands that use it (serve, worker) first"
        )


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        first = (pgdata / "postmaster.pid").read_text(encoding="utf-8").split("\n", 1)[0].strip()
    except OSError:
        return None
    pid = int(first) if first.isdigit() else 0
    return pid if local_server.alive(pid) else None


def command(args: argparse.Namespace) -> int:
    env = os.environ
    try:
        folder = data_folder(env, Path.cwd())
        if folder is None:
            print(f"nothing to reset: no embedded database in {find_data_dir(env, Path.cwd()).folder}")
            return 0
        check_unused(folder)
    except Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    present = [folder / name for name in REMOVED if (folder / name).exists()]
    present += router_files(folder)
    if not args.yes:
        print(f"would remove from {folder}: {_names(folder, present)}; run again with --yes")
        return 2
    remove(folder, present, env)
    print(
        f"removed the embedded database in {folder} ({_names(folder, present)}); "
        "`make run` (or `sendingip serve --init`) starts a new, empty one with a new admin key"
    )
    return 0


def router_files(folder: Path) -> list[Path]:
    """The router's files of the embedded database (its address, hence its tag, needs it
    started once, briefly); all of ``router/`` when it does not start (a broken database
    is what one resets)."""
    router = folder / "router"
    if not router.is_dir():
        return []
    embedded = EmbeddedPostgres(folder / "postgres")
    try:
        tag = database_tag(embedded.start())
    except Exception as exc:  # whatever broke it, the folder is being reset
        print(f"the embedded PostgreSQL does not start ({exc}): all of {router} goes", file=sys.stderr)
        return [router]
    finally:
        embedded.stop()
    return sorted(p for p in router.iterdir() if f"-{tag}" in p.name)


def _names(folder: Path, paths: list[Path]) -> str:
    return ", ".join(str(p.relative_to(folder)) for p in paths)


def remove(folder: Path, paths: list[Path], env: Mapping[str, str]) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    noted = recorded_data_dir(env)
    if noted is not None and noted.resolve() == folder.resolve() and not has_database(folder):
        state_file(env).unlink(missing_ok=True)  # commands elsewhere no longer find it
    for empty in (folder / "router", folder):
        if empty.is_dir() and not any(empty.iterdir()):
            empty.rmdir()
