"""The embedded PostgreSQL used when ``SENDINGIP_DATABASE_URL`` is unset.

pgserver ships the server binaries as a wheel; the server listens on a Unix socket
in (or near) the data folder, is started on demand and stopped when the last process
that uses it exits. Several processes may share one data folder.
"""

from __future__ import annotations

import logging
import warnings
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
            log.info("starting embedded PostgreSQL data_dir=%s", self.data_dir)
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI).
                warnings.simplefilter("ignore")
                import pgserver

                self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        return str(self._server.get_uri())

    def stop(self) -> None:
        """Stop the server unless another process still uses it. Idempotent."""
        if self._server is not None:
            server, self._server = self._server, None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                server.cleanup()
            log.info("embedded PostgreSQL released data_dir=%s", self.data_dir)
