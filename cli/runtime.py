"""What every long-running command shares: uvloop, signals, and the database choice.

The database: ``SENDINGIP_DATABASE_URL`` when set, else the embedded PostgreSQL in the data
folder (``store.embedded.find_data_dir``). Only ``serve`` creates that database by itself,
and only where no other folder noted by an earlier ``serve`` holds one; every other command
uses the existing one, found the same way from any working directory, and asks for
``--init`` (or a URL) rather than start a second, empty database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from store.config import ConfigError, DatabaseConfig
from store.database import Database, open_database
from store.embedded import find_data_dir

log = logging.getLogger(__name__)
T = TypeVar("T")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop."""
    return uvloop.run(main)


async def until_signalled(body: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """Run ``body(stop)`` with ``stop`` set on SIGINT or SIGTERM (installed here, once)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _on_signal, sig, stop)
    try:
        return await body(stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _on_signal(sig: signal.Signals, stop: asyncio.Event) -> None:
    log.info("received %s; shutting down", sig.name)
    stop.set()


class NoDatabase(ConfigError):
    """The command would start a new, empty embedded database; the message says what to do."""


INIT_HELP = "create a new, empty embedded database in ./.data (or SENDINGIP_DATA_DIR) when there is none"


def locate(
    config: DatabaseConfig,
    *,
    init: bool = False,
    serving: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> DatabaseConfig:
    """``config`` with ``data_dir`` the (absolute) folder to use; ``NoDatabase`` when the
    embedded database is wanted and this command may not create it.

    ``init``: the operator asked for a new database in the folder. ``serving``: ``serve``,
    which creates the first database by itself (``make run`` on a fresh clone).
    """
    found = find_data_dir(os.environ if env is None else env, Path.cwd() if cwd is None else cwd)
    folder = found.folder
    if config.url is None and not (found.has_database or init):
        if found.elsewhere is not None and serving:
            raise NoDatabase(
                f"no embedded database in {folder}; the last `sendingip serve` used {found.elsewhere}. "
                f"Run from {found.elsewhere.parent}, set SENDINGIP_DATA_DIR={found.elsewhere}, "
                f"pass --init to start a new, empty database in {folder}, or set SENDINGIP_DATABASE_URL"
            )
        if found.elsewhere is not None:
            log.info("no database in %s; using the one `sendingip serve` noted: %s", folder, found.elsewhere)
            folder = found.elsewhere
        elif not serving:
            raise NoDatabase(
                f"no embedded database in {folder}, and no `sendingip serve` has noted one elsewhere: "
                "this command would start a new, empty one. Start the server first (`make run`), run this "
                "from its folder, pass --init to create an empty database here, or set SENDINGIP_DATABASE_URL"
            )
    return dataclasses.replace(config, data_dir=folder)


@contextmanager
def database(config: DatabaseConfig, *, init: bool = False) -> Iterator[Database]:
    """The configured database, found as ``locate`` says; an embedded one is stopped again on exit."""
    with opened(locate(config, init=init)) as db:
        yield db


@contextmanager
def opened(config: DatabaseConfig) -> Iterator[Database]:
    """The database of a ``config`` already located (``serve``)."""
    db = open_database(config)
    try:
        yield db
    finally:
        db.close()
