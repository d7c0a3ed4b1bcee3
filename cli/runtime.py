"""What every long-running command shares: uvloop, signals, and the database choice."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import uvloop

from store.config import DatabaseConfig
from store.database import Database, open_database

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


@contextmanager
def database(config: DatabaseConfig) -> Iterator[Database]:
    """The configured database; an embedded one is stopped again on exit."""
    db = open_database(config)
    try:
        yield db
    finally:
        db.close()
