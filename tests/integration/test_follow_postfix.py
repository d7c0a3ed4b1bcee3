"""`sendingip outcomes follow-postfix` against a real `sendingip serve` over gRPC, on a real
PostgreSQL: what it reads lands in daily_outcomes once, through restarts, crashes between
"sent" and "saved", rotation, a server that is down and items the server refuses."""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from cli import client
from cli.follow_postfix.follower import Follower, Settings
from cli.follow_postfix.postfix_log import Accounts, LineClock, PostfixLog
from cli.follow_postfix.reader import LogReader
from cli.follow_postfix.state import FollowState, Report, StateFile
from cli.outcomes import grpc_sender, outcome_check
from server.router.providers import ProviderTable
from tests.support.processes import SENDINGIP, ServerProcess, create_key, sendingip_env, wait_for

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
STAMP = datetime.now(UTC).strftime("%b %d %H:%M:%S")  # syslog's form, read in TZ=UTC


@dataclass
class Stack:
    server: ServerProcess
    db_url: str
    key: str
    tmp: Path

    def env(self, **extra: str) -> dict[str, str]:
        settings = {
            "SENDINGIP_LISTEN": self.server.target,
            "SENDINGIP_API_KEY": self.key,
            "SENDINGIP_DATA_DIR": str(self.tmp / "data"),
            "TZ": "UTC",
        }
        return sendingip_env(self.db_url, **{**settings, **extra})

    def follow(self, log: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """One `follow-postfix --once` run, as cron would run it."""
        result = subprocess.run(
            [SENDINGIP, "outcomes", "follow-postfix", str(log), "--once", *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result


@pytest.fixture
def stack(db_url: str, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(
        ServerProcess(sendingip_env(db_url, SENDINGIP_METRICS_LISTEN="0"), ["--no-workers"]), db_url, "", tmp_path
    )
    try:
        stack.server.wait_listening()
        stack.key = create_key(db_url, "route")
        yield stack
    finally:
        stack.server.stop()  # the one running now: a test may have started another


def client_line(qid: str, user: str) -> str:
    return f"{STAMP} mx postfix/submission/smtpd[100]: {qid}: client=app[203.0.113.9], sasl_method=PLAIN, sasl_username={user}\n"


def from_line(qid: str, sender: str) -> str:
    return f"{STAMP} mx postfix/qmgr[101]: {qid}: from=<{sender}>, size=900, nrcpt=1 (queue active)\n"


def removed_line(qid: str) -> str:
    return f"{STAMP} mx postfix/qmgr[101]: {qid}: removed\n"


def to_line(
    qid: str, rcpt: str, ip: str = "192.0.2.1", status: str = "sent", dsn: str = "2.0.0", why: str = "(250 OK)"
) -> str:
    transport = "sendingip_" + ip.replace(".", "_").replace(":", "_")
    return (
        f"{STAMP} mx postfix/{transport}/smtp[300]: {qid}: to=<{rcpt}>, relay=mx[198.51.100.7]:25, delay=0.3, "
        f"delays=0.1/0/0.1/0.1, dsn={dsn}, status={status} {why}\n"
    )


def append(path: Path, *lines: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write("".join(lines))


async def outcomes(db: asyncpg.Connection) -> dict[tuple[str, str, str], tuple[int, int, int, int]]:
    rows = await db.fetch(
        "SELECT day, account_id, ip, mailbox_provider, delivered, deferred, bounced, throttled FROM daily_outcomes"
    )
    for r in rows:
        assert r["day"] == TODAY
    return {
        (r["account_id"], r["ip"], r["mailbox_provider"]): (r["delivered"], r["deferred"], r["bounced"], r["throttled"])
        for r in rows
    }


def acme_message(qid: str, n_sent: int = 1) -> list[str]:
    lines = [client_line(qid, "acme")]
    lines += [to_line(qid, f"u{i}@gmail.com") for i in range(n_sent)]
    return [*lines, removed_line(qid)]


async def test_reports_land_in_daily_outcomes_once_per_line(stack: Stack, db: asyncpg.Connection) -> None:
    log = stack.tmp / "mail.log"
    log.write_bytes(b"\xff\xfe not UTF-8 \x00 at all\n")
    append(
        log,
        client_line("4A00000001", "acme"),
        client_line("4A00000002", "globex"),
        to_line("4A00000001", "a@gmail.com"),
        to_line("4A00000001", "b@gmail.com", status="deferred", dsn="4.7.28", why="(host said: 421-4.7.28 slow)"),
        to_line("4A00000001", "c@hotmail.com", status="deferred", dsn="4.4.1", why="(connect refused)"),
        to_line("4A00000001", "d@yahoo.com", status="bounced", dsn="5.1.1", why="(said: 550 5.1.1 unknown)"),
        to_line("4A00000002", "e@example.org", ip="2001:db8::1"),
        to_line("4A000000FF", "f@gmail.com"),  # no account known: not reported
        to_line("4A00000001", "g@gmail.com").replace("sendingip_192_0_2_1/", ""),  # another transport: ignored
    )
    first = stack.follow(log)
    assert first.returncode == 0, first.stderr
    assert "report lines=10 outcomes=4 delivered=2 deferred=1 bounced=1 throttled=1 unattributed=1" in first.stderr
    assert "unattributed deliveries=1 queue_ids=4A000000FF" in first.stderr
    expected = {
        ("acme", "192.0.2.1", "google"): (1, 0, 0, 1),
        ("acme", "192.0.2.1", "microsoft"): (0, 1, 0, 0),
        ("acme", "192.0.2.1", "yahoo"): (0, 0, 1, 0),
        ("globex", "2001:db8::1", "other"): (1, 0, 0, 0),
    }
    assert await outcomes(db) == expected

    # Nothing new: nothing added. New lines: only they are added.
    assert stack.follow(log).returncode == 0
    assert await outcomes(db) == expected
    append(log, to_line("4A00000002", "h@example.org", ip="2001:db8::1"))
    assert stack.follow(log).returncode == 0
    expected[("globex", "2001:db8::1", "other")] = (2, 0, 0, 0)
    assert await outcomes(db) == expected


class Crash(Exception):
    """The process dies here (in the test: an exception nobody catches)."""


def _core(stack: Stack, log: Path, state_path: Path, *, crash: str) -> int:
    """The follower as the command builds it, with a crash injected around the send."""
    args = argparse.Namespace(server=stack.server.target, timeout=10.0)
    store = StateFile(state_path)
    store.lock()
    reader = LogReader(log, grace=0.0)
    reader.start(None)
    providers = ProviderTable()
    try:
        with client.open_client(args, env={"SENDINGIP_API_KEY": stack.key}) as c:
            real = grpc_sender(c)

            def send(report: Report) -> None:
                if crash == "before":
                    raise Crash("after the write-ahead, before the send")
                real(report)
                raise Crash("after the server applied the report, before the state was saved")

            follower = Follower(
                reader,
                PostfixLog(Accounts("sasl_username", 1000), providers, LineClock(UTC, datetime.now(UTC))),
                store,
                FollowState(log=str(log)),
                send,
                Settings(once=True),
                threading.Event(),
                check=outcome_check(providers),
            )
            return follower.run()
    finally:
        reader.close()
        store.unlock()


@pytest.mark.parametrize("crash", ["after", "before"])
async def test_a_crash_around_the_send_neither_loses_nor_double_counts(
    stack: Stack, db: asyncpg.Connection, crash: str
) -> None:
    log = stack.tmp / "mail.log"
    state = stack.tmp / "state.json"
    append(log, *acme_message("4B00000001", n_sent=3))
    with pytest.raises(Crash):
        _core(stack, log, state, crash=crash)
    applied = {("acme", "192.0.2.1", "google"): (3, 0, 0, 0)}
    assert await outcomes(db) == (applied if crash == "after" else {})
    assert '"pending":[{"report_id"' in state.read_text()

    # Restarted (the real command, same state file): the pending report goes first, with its
    # id; the server applies it at most once. Lines appended meanwhile are read after it.
    append(log, *acme_message("4B00000002", n_sent=2))
    again = stack.follow(log, "--state", str(state))
    assert again.returncode == 0, again.stderr
    assert "report_resend pending=1" in again.stderr
    assert await outcomes(db) == {("acme", "192.0.2.1", "google"): (5, 0, 0, 0)}
    assert '"pending":[]' in state.read_text()


async def test_following_through_a_rotation_with_lines_split_across_it(stack: Stack, db: asyncpg.Connection) -> None:
    log = stack.tmp / "mail.log"
    log.write_text("")
    follower = ServerProcess(
        stack.env(),
        command=("outcomes", "follow-postfix", str(log), "--interval", "0.2", "--state", str(stack.tmp / "s.json")),
    )
    try:
        follower.wait_line(r"follow_start")
        append(log, client_line("4C00000001", "acme"), to_line("4C00000001", "a@gmail.com"))
        follower.wait_line(r"report lines=2 outcomes=1 delivered=1")
        # The message's attribution line is in the old file, its deliveries on both sides of
        # the rotation; the last old line is cut in two by the rotation, finished by its writer.
        half = to_line("4C00000001", "b@gmail.com")
        append(log, half[:40])
        os.rename(log, log.with_name("mail.log.1"))
        log.write_text("")
        append(log.with_name("mail.log.1"), half[40:])
        append(log, to_line("4C00000001", "c@gmail.com"), removed_line("4C00000001"))
        append(log, *acme_message("4C00000002", n_sent=4))
        wait_for(lambda: "log_rotated" in follower.output, timeout=20)
        follower.wait_line(r"report lines=\d+ outcomes=1 delivered=6", timeout=20)
        follower.signal(signal.SIGTERM)
        assert follower.wait(30) == 0, follower.output
    finally:
        follower.stop()
    assert await outcomes(db) == {("acme", "192.0.2.1", "google"): (7, 0, 0, 0)}


async def test_a_restart_resumes_after_rotations_while_stopped(stack: Stack, db: asyncpg.Connection) -> None:
    log = stack.tmp / "mail.log"
    append(log, *acme_message("4D00000001"))
    assert stack.follow(log).returncode == 0
    # Stopped. Meanwhile: lines, a rotation (then compressed, as `postfix logrotate` does), more.
    append(log, *acme_message("4D00000002"))
    rotated = log.with_name("mail.log.20261201-003218")
    os.rename(log, rotated)
    with open(rotated, "rb") as src, gzip.open(f"{rotated}.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(rotated)
    append(log, *acme_message("4D00000003", n_sent=2))
    result = stack.follow(log)
    assert result.returncode == 0, result.stderr
    assert "log_catch_up: reading the rest of" in result.stderr
    assert await outcomes(db) == {("acme", "192.0.2.1", "google"): (4, 0, 0, 0)}


async def test_attribution_survives_a_restart_between_the_from_line_and_the_delivery(
    stack: Stack, db: asyncpg.Connection
) -> None:
    log = stack.tmp / "mail.log"
    append(log, from_line("4E00000001", "news@acme.example"), from_line("4E00000002", "ops@globex.example"))
    assert stack.follow(log, SENDINGIP_POSTFIX_ACCOUNT="sender_domain").returncode == 0
    append(
        log, to_line("4E00000001", "a@gmail.com"), to_line("4E00000002", "b@gmail.com", status="bounced", dsn="5.1.1")
    )
    assert stack.follow(log, SENDINGIP_POSTFIX_ACCOUNT="sender_domain").returncode == 0
    assert await outcomes(db) == {
        ("acme.example", "192.0.2.1", "google"): (1, 0, 0, 0),
        ("globex.example", "192.0.2.1", "google"): (0, 0, 1, 0),
    }


async def test_a_server_that_is_down_keeps_the_report_until_it_is_back(stack: Stack, db: asyncpg.Connection) -> None:
    log = stack.tmp / "mail.log"
    append(log, *acme_message("4F00000001", n_sent=2))
    stack.server.stop()
    down = stack.follow(log)
    assert down.returncode == 1
    assert "report_retry" in down.stderr and "report_kept pending=1" in down.stderr
    stack.server = ServerProcess(sendingip_env(stack.db_url, SENDINGIP_METRICS_LISTEN="0"), ["--no-workers"])
    stack.server.wait_listening()
    append(log, *acme_message("4F00000002"))
    back = stack.follow(log)
    assert back.returncode == 0, back.stderr
    assert await outcomes(db) == {("acme", "192.0.2.1", "google"): (3, 0, 0, 0)}


async def test_items_the_server_refuses_are_named_skipped_and_the_rest_applied(
    db_url: str, tmp_path: Path, db: asyncpg.Connection
) -> None:
    # The server knows no provider `corp` and takes 2 outcomes per call; the follower's
    # environment differs (as it may on another machine).
    server = ServerProcess(
        sendingip_env(db_url, SENDINGIP_METRICS_LISTEN="0", SENDINGIP_ROUTER_MAX_BATCH="2"), ["--no-workers"]
    )
    try:
        server.wait_listening()
        stack = Stack(server, db_url, create_key(db_url, "route"), tmp_path)
        log = tmp_path / "mail.log"
        append(
            log,
            from_line("5A00000001", "a@acme.example"),
            from_line("5A00000002", "bad account!@acme.example"),  # not a valid account id
            to_line("5A00000001", "x@gmail.com"),
            to_line("5A00000001", "x@hotmail.com"),
            to_line("5A00000001", "x@yahoo.com"),
            to_line("5A00000001", "x@corp.example"),
            to_line("5A00000001", "x@icloud.com"),
            to_line("5A00000002", "y@gmail.com"),
        )
        result = stack.follow(log, SENDINGIP_POSTFIX_ACCOUNT="sender", SENDINGIP_PROVIDER_DOMAINS="corp=corp.example")
        assert result.returncode == 0, result.stderr
        assert "outcome_skipped" in result.stderr and "account=bad account!@acme.example" in result.stderr
        assert "provider=corp" in result.stderr and "mailbox_provider: unknown provider" in result.stderr
        assert "report_split outcomes=5 batch=2" in result.stderr
    finally:
        server.stop()
    got = await outcomes(db)
    assert got == {("a@acme.example", "192.0.2.1", p): (1, 0, 0, 0) for p in ("google", "microsoft", "yahoo", "apple")}


async def test_a_key_without_route_stops_it_with_the_report_kept(stack: Stack, db: asyncpg.Connection) -> None:
    log = stack.tmp / "mail.log"
    append(log, *acme_message("5B00000001", n_sent=2))
    denied = stack.follow(log, SENDINGIP_API_KEY=create_key(stack.db_url, "view"))
    assert denied.returncode == 1
    assert "error: PERMISSION_DENIED" in denied.stderr and "the report is kept in" in denied.stderr
    assert await outcomes(db) == {}
    allowed = stack.follow(log)
    assert allowed.returncode == 0, allowed.stderr
    assert await outcomes(db) == {("acme", "192.0.2.1", "google"): (2, 0, 0, 0)}


def test_help_names_the_state_file_default() -> None:
    out = subprocess.run(
        [SENDINGIP, "outcomes", "follow-postfix", "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    assert "$SENDINGIP_DATA_DIR/follow-postfix/" in out and "--once" in out and "--from-start" in out


def test_a_missing_log_file_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [SENDINGIP, "outcomes", "follow-postfix", str(tmp_path / "nope.log"), "--once"],
        env={**os.environ, "SENDINGIP_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "nope.log: No such file or directory" in result.stderr
