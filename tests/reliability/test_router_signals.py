"""The router stopped under load (issue 8, fault 2): SIGTERM loses nothing; SIGKILL
loses at most the picks of the last flush interval (and of a flush being written)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.database import connect
from store.migrate import apply_migrations
from tests.reliability.load import Picker, total
from tests.support.history import history, wait_history
from tests.support.processes import PrivatePostgres, ServerProcess, admin_key, sendingip_env, serve_router
from tests.support.routing import seed_acme

pytestmark = pytest.mark.e2e
FLUSH_INTERVAL = 0.5


async def _serve(db_url: str, data_dir: Path) -> tuple[ServerProcess, str]:
    async with connect(db_url) as db:
        await seed_acme(db)
    return serve_router(db_url, data_dir, SENDINGIP_HISTORY_FLUSH_INTERVAL=str(FLUSH_INTERVAL))


async def test_sigterm_under_load_loses_no_pick(db_url: str, tmp_path: Path) -> None:
    server, key = await _serve(db_url, tmp_path)
    try:
        pickers = [Picker(server.target, key, mode=m, name=m) for m in ("unary", "batch", "stream")]
        for p in pickers:
            p.__enter__()
        for p in pickers:
            p.wait_picks(300)
        server.signal(signal.SIGTERM)  # while every picker is mid-flight
        assert server.wait(30) == 0, server.output
        for p in pickers:
            p.stop()
        made = sum((p.counts for p in pickers), start=type(pickers[0].counts)())
        # A call cut while the server stopped (the client saw CANCELLED or a dropped
        # connection, not a refused one nor the drain's "not answered") may have been
        # counted: its outcome is unknown to the client, as with any RPC. Calls refused
        # or drained were not.
        unknown = sum(
            (p.batch if p.mode == "batch" else 1)
            for p in pickers
            for _code, details in p.failures
            if "failed to connect" not in details and "were not answered" not in details
        )
        async with connect(db_url) as db:
            counted = await history(db)
        # Nothing answered is lost, and nothing is counted twice: every extra count is a
        # call whose answer was cut at the stop.
        assert all(counted[k] >= n for k, n in made.items()), (total(counted), total(made))
        assert 0 <= total(counted) - total(made) <= unknown, (total(counted), total(made), unknown)
        assert total(made) > 900
    finally:
        server.stop()
    assert "Traceback" not in server.output, server.output


async def test_sigkill_loses_at_most_the_last_flush_interval(db_url: str, tmp_path: Path) -> None:
    server, key = await _serve(db_url, tmp_path)
    try:
        with Picker(server.target, key, mode="batch", name="batch") as picker:
            async with connect(db_url) as db:  # picking until flushes have landed
                while not await history(db):
                    picker.wait_picks(100)
            picker.wait_picks(1000)
            killed_at = time.monotonic()
            server.signal(signal.SIGKILL)
            assert server.wait(30) == -signal.SIGKILL
        made = picker.counts
        async with connect(db_url) as db:
            # Nothing more will come: whatever landed has landed.
            counted = await history(db)
        assert not counted - made, "history holds picks nobody was answered"
        lost = total(made) - total(counted)
        # At most the picks answered since the last flush began: one interval, plus the
        # flush that may have been on its way (its own interval) when the process died.
        window = sum(n for at, n in picker.answered if at >= killed_at - 2 * FLUSH_INTERVAL - 0.2)
        assert 0 <= lost <= window, (lost, window, total(made))
        assert total(counted) > 0
    finally:
        server.stop()


def _postgres_processes(pg: PrivatePostgres) -> list[int]:
    """The postmaster and every process it started (backends, checkpointer, …)."""
    postmaster = int((pg.pgdata / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # pid (comm) state ppid …: comm may hold spaces, so split after its ")".
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                children.append(int(stat.parent.name))
    return [postmaster, *children]


@contextlib.contextmanager
def frozen(pg: PrivatePostgres) -> Iterator[None]:
    """PostgreSQL that accepts connections and never answers: every process stopped."""
    pids = _postgres_processes(pg)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in reversed(pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


async def test_sigterm_with_postgres_frozen_exits_within_the_deadline(
    private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    """Issue 13, item 4: every step of the shutdown is bounded by one deadline, and the
    backlog is on disk before it; the next start writes it."""
    async with connect(private_pg.url) as db:
        await apply_migrations(db)
        await seed_acme(db)
    deadline = 4.0
    env = sendingip_env(
        private_pg.url,
        SENDINGIP_DATA_DIR=str(tmp_path),
        SENDINGIP_METRICS_LISTEN="0",
        SENDINGIP_HISTORY_FLUSH_INTERVAL=str(FLUSH_INTERVAL),
        SENDINGIP_SHUTDOWN_DEADLINE=str(deadline),
    )
    first = ServerProcess(env)  # with the in-process worker: its stop is bounded too
    try:
        key = admin_key(first)
        first.wait_serving()
        with Picker(first.target, key, mode="batch", name="batch") as picker:
            picker.wait_picks(300)
            with frozen(private_pg):
                picker.wait_picks(500)
                picker.stop()
                time.sleep(2 * FLUSH_INTERVAL)  # a flush is stuck on the frozen server
                began = time.monotonic()
                first.signal(signal.SIGTERM)
                code = first.wait(deadline + 30)
                took = time.monotonic() - began
    finally:
        first.stop()
    assert code == 0, first.output
    assert took <= deadline + 1.0, (took, first.output)
    assert "history kept on disk until the next start" in first.output, first.output
    assert len(list((tmp_path / "router").glob("history-*.jsonl"))) == 1
    assert picker.failures == []

    again = ServerProcess(env)
    try:
        made = picker.counts
        async with connect(private_pg.url) as db:
            counted = await wait_history(db, made)
        assert counted == made, (total(counted), total(made))
    finally:
        again.stop()
    assert "Traceback" not in first.output + again.output, first.output + again.output
