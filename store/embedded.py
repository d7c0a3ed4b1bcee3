"""The embedded PostgreSQL used when ``SENDINGIP_DATABASE_URL`` is unset.

pgserver ships the server binaries as a wheel; the server listens on a Unix socket
in (or near) the data folder, is started on demand and stopped when the last process
that uses it exits. Several processes may share one data folder.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
# pgserver logs every pg_ctl call at INFO; its warnings and errors still show.
logging.getLogger("pgserver").setLevel(logging.WARNING)


class EmbeddedPostgres:
    """Handle on an embedded PostgreSQL server under ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._server: Any = None

    def start(self) -> str:
        """Start the server (or join a running one) and return its admin URL."""
        if self._server is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fresh = not (self.data_dir / "PG_VERSION").is_file()
            if fresh:
                log.info("creating a new embedded PostgreSQL (initdb; a few seconds) data_dir=%s", self.data_dir)
            else:
                log.info("starting embedded PostgreSQL data_dir=%s", self.data_dir)
            started = time.monotonic()
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI).
                warnings.simplefilter("ignore")
                import pgserver

                self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
            log.info("embedded PostgreSQL ready in %.1fs", time.monotonic() - started)
        return str(self._server.get_uri())

    def stop(self) -> None:
        """Stop the server unless another process still uses it. Idempotent."""
        if self._server is not None:
            server, self._server = self._server, None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                server.cleanup()
            log.info("embedded PostgreSQL released data_dir=%s", self.data_dir)


# -- Which data folder: the same from every working directory ---------------------------
#
# `sendingip serve` keeps its files (the embedded PostgreSQL, the first-start admin key,
# the router's snapshot) under ``./.data`` unless ``SENDINGIP_DATA_DIR`` says otherwise,
# and writes down, per user, which folder that was. A command run from another folder then
# finds that folder instead of starting a second, empty database where it happens to run.

#: The data folder when ``SENDINGIP_DATA_DIR`` is unset, relative to the working directory.
DEFAULT_DATA_DIR = Path(".data")


def state_file(env: Mapping[str, str]) -> Path:
    """The per-user note of the data folder the last ``serve`` used (XDG state folder)."""
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sendingip" / "data-dir"


def record_data_dir(folder: Path, env: Mapping[str, str]) -> None:
    """Write ``folder`` down for commands run elsewhere; only for the default folder
    (an explicit ``SENDINGIP_DATA_DIR`` is repeated by whoever set it). Best effort."""
    if env.get("SENDINGIP_DATA_DIR"):
        return
    path = state_file(env)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{folder.resolve()}\n", encoding="utf-8")
    except OSError as exc:
        log.warning("could not note the data folder in %s: %s", path, exc)


def recorded_data_dir(env: Mapping[str, str]) -> Path | None:
    try:
        text = state_file(env).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return Path(text) if text else None


def has_database(folder: Path) -> bool:
    """An embedded PostgreSQL was initialised under ``folder`` (``open_database``'s layout)."""
    return (folder / "postgres" / "PG_VERSION").is_file()


@dataclass(frozen=True)
class DataDir:
    """The data folder a command would use, and a folder elsewhere that holds a database."""

    #: ``SENDINGIP_DATA_DIR``, else ``./.data``; absolute.
    folder: Path
    #: When ``folder`` holds no database: the folder the last ``serve`` noted, if that one
    #: does (a new database in ``folder`` would not be the one the operator expects).
    elsewhere: Path | None = None

    @property
    def has_database(self) -> bool:
        return has_database(self.folder)


def find_data_dir(env: Mapping[str, str], cwd: Path) -> DataDir:
    """``SENDINGIP_DATA_DIR`` when set (as given); else ``./.data``, with the folder the last
    ``serve`` noted as ``elsewhere`` when ``./.data`` holds no database and that one does."""
    explicit = env.get("SENDINGIP_DATA_DIR")
    if explicit:
        return DataDir((cwd / explicit).resolve())
    here = (cwd / DEFAULT_DATA_DIR).resolve()
    if has_database(here):
        return DataDir(here)
    noted = recorded_data_dir(env)
    if noted is not None and noted.resolve() != here and has_database(noted):
        return DataDir(here, elsewhere=noted.resolve())
    return DataDir(here)
