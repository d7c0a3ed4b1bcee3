"""`sendingip outcomes follow-postfix LOGFILE`: report delivery outcomes from Postfix's log (SPEC §5).

This module is the entry point only: options, configuration from the environment, the
gRPC sender, signal handling (here, once, never in the parts). The parts live in
``cli/follow_postfix/``: the pure log reading, the file following, the state file and
the write-ahead loop; its package docstring says which is which.

The server's rules are used, not copied: provider classification is the router's
``ProviderTable`` with ``SENDINGIP_PROVIDER_DOMAINS``; the batch size is the router's
``SENDINGIP_ROUTER_MAX_BATCH``; each outcome is checked with the router's own
``validate.outcome`` before it is sent, so a row the server would refuse is named in the
log and skipped without a round trip.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import grpc

from cli import client
from cli.follow_postfix.follower import Check, Follower, Send, SendError, Settings
from cli.follow_postfix.postfix_log import Accounts, LineClock, PostfixLog
from cli.follow_postfix.reader import LogReader
from cli.follow_postfix.state import FollowState, OutcomeRow, Report, StateError, StateFile, default_path
from sendingip.v1 import router_pb2, types_pb2
from server import validate
from server.adapters.config import POSTFIX_ACCOUNT_MODES
from server.config import RouterConfig
from server.router.providers import ProviderTable
from server.validate import RequestError
from store.config import ConfigError

log = logging.getLogger(__name__)

_DESCRIPTION = """\
Follow Postfix's log and report each recipient's outcome (delivered, deferred, bounced,
throttled: a 421 or 4.7.x deferral) per day, account, sending IP and mailbox provider to
the router (ReportOutcomes; SENDINGIP_API_KEY needs the 'route' permission). Only
delivery lines of the sendingip_<ip> transports (`sendingip postfix master-cf`) count.
The account of a queue id comes from SENDINGIP_POSTFIX_ACCOUNT, as in the policy door:
sasl_username (default), sender or sender_domain.

It follows rotation (renamed or copied and truncated; rotated files, compressed or not,
are found again after a restart) and keeps its position, its queue-id attribution and
any report not yet acknowledged in the state file, so a restart neither loses nor
double-counts a line; with no state yet, LOGFILE is read from its start. Exit codes: 0
done (or stopped by SIGINT/SIGTERM), 1 a report could not be delivered (kept for the next
start), 2 bad usage or state. Syslog timestamps have no year or zone: they are read in
--timezone, in the latest year that does not put them more than a day in the future.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("outcomes", help="report delivery outcomes from an MTA's log")
    commands = parser.add_subparsers(dest="outcomes_command", required=True, metavar="SUBCOMMAND")
    follow = commands.add_parser(
        "follow-postfix",
        help="follow Postfix's log and report outcomes (delivered, deferred, bounced, throttled)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    follow.add_argument("logfile", metavar="LOGFILE", type=Path, help="Postfix's log (maillog_file, or syslog's)")
    follow.add_argument(
        "--state",
        metavar="FILE",
        type=Path,
        help="position, attribution and pending report (default: $SENDINGIP_DATA_DIR/follow-postfix/"
        "<LOGFILE's path>-<hash>.json; SENDINGIP_DATA_DIR defaults to ./.data)",
    )
    follow.add_argument("--once", action="store_true", help="read to the end, report, exit (tests, cron)")
    follow.add_argument(
        "--interval", type=_positive, default=10.0, metavar="SECONDS", help="seconds between reports (default 10)"
    )
    follow.add_argument(
        "--lines", type=int, default=10_000, metavar="N", help="report at the latest after N lines (default 10000)"
    )
    follow.add_argument(
        "--from-start",
        action="store_true",
        help="ignore the saved state and read LOGFILE from its start (lines reported before are reported again)",
    )
    follow.add_argument(
        "--timezone", metavar="ZONE", help="zone of syslog timestamps, e.g. Europe/Paris (default: this machine's)"
    )
    follow.add_argument(
        "--max-queue-ids",
        type=int,
        default=100_000,
        metavar="N",
        help="queue ids whose account is remembered until Postfix removes them (default 100000)",
    )
    client.add_client_options(follow, json_output=False)
    follow.set_defaults(func=follow_postfix)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return value


def follow_postfix(args: argparse.Namespace) -> int:
    env = os.environ
    router = RouterConfig.from_env(env)
    providers, mode = _provider_table(router), _account_mode(env)
    if args.lines < 1 or args.max_queue_ids < 1:
        print("error: --lines and --max-queue-ids must be at least 1", file=sys.stderr)
        return 2
    tz = _zone(args.timezone)
    logfile: Path = args.logfile.absolute()
    store = StateFile(args.state or default_path(Path(env.get("SENDINGIP_DATA_DIR") or ".data"), logfile))
    reader = LogReader(logfile, grace=0.0 if args.once else 2.0)
    try:
        store.lock()
        state = _state(store, logfile, from_start=args.from_start)
        reader.start(state.position)
    except StateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {logfile}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        postfix_log = PostfixLog(
            Accounts(mode, args.max_queue_ids, state.queue_ids), providers, LineClock(tz, datetime.now(UTC))
        )
        settings = Settings(interval=args.interval, max_lines=args.lines, batch=router.max_batch, once=args.once)
        log.info("follow_start log=%s state=%s account_from=%s timezone=%s", logfile, store.path, mode, tz)
        with _stop_on_signals() as stop, client.open_client(args) as c:
            follower = Follower(
                reader, postfix_log, store, state, grpc_sender(c), settings, stop, check=outcome_check(providers)
            )
            return _run(follower)
    except client.UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        reader.close()
        store.unlock()


def _run(follower: Follower) -> int:
    """The follower's run, its failures as one line each (the state file keeps what was not sent)."""
    kept = f"the report is kept in {follower.store.path} and sent again at the next start"
    try:
        return follower.run()
    except SendError as err:
        hint = ""
        if err.code == "UNAUTHENTICATED" and not os.environ.get("SENDINGIP_API_KEY"):
            hint = " (set SENDINGIP_API_KEY)"
        elif err.code == "PERMISSION_DENIED":
            hint = " (the key needs the 'route' permission, for every account in the log)"
        print(f"error: {err}{hint}; {kept}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc.filename or follower.store.path}: {exc.strerror or exc}; {kept}", file=sys.stderr)
        return 1


def _provider_table(router: RouterConfig) -> ProviderTable:
    try:
        return ProviderTable.with_overrides(router.provider_domains)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _account_mode(env: Mapping[str, str]) -> str:
    """``SENDINGIP_POSTFIX_ACCOUNT``, read as the policy door reads it."""
    mode = env.get("SENDINGIP_POSTFIX_ACCOUNT") or POSTFIX_ACCOUNT_MODES[0]
    if mode not in POSTFIX_ACCOUNT_MODES:
        raise ConfigError(f"SENDINGIP_POSTFIX_ACCOUNT={mode!r}: expected one of {', '.join(POSTFIX_ACCOUNT_MODES)}")
    return mode


def _state(store: StateFile, logfile: Path, *, from_start: bool) -> FollowState:
    saved = store.load()
    if saved is not None and from_start:
        log.warning(
            "from_start: ignoring the saved position in %s (and %d report(s) not acknowledged)",
            store.path, len(saved.pending),
        )  # fmt: skip
        saved = None
    if saved is None:
        log.info("no saved position: reading %s from its start", logfile)
        return FollowState(log=str(logfile))
    if saved.log != str(logfile):
        raise StateError(f"{store.path} belongs to {saved.log}, not {logfile}: give another --state")
    return saved


def _zone(name: str | None) -> tzinfo:
    """``--timezone``, else TZ, else /etc/localtime, else the current local offset."""
    for candidate in (name, (os.environ.get("TZ") or "").lstrip(":") or None):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                if candidate == name:
                    raise ConfigError(f"--timezone {name!r}: not a known time zone (e.g. UTC, Europe/Paris)") from None
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError):
        return datetime.now().astimezone().tzinfo or UTC


def grpc_sender(c: client.Client) -> Send:
    """ReportOutcomes with the report's id; a refusal becomes SendError(code name, details)."""
    method = c.router.ReportOutcomes

    def send(report: Report) -> None:
        request = router_pb2.ReportOutcomesRequest(
            report_id=report.report_id, outcomes=[_proto(row) for row in report.outcomes]
        )
        try:
            c.call(method, request)
        except grpc.RpcError as err:
            if isinstance(err, grpc.Call):
                raise SendError(err.code().name, err.details() or "") from None
            raise SendError("UNKNOWN", str(err)) from None

    return send


def outcome_check(providers: ProviderTable) -> Check:
    """The router's own check of one outcome: the reason it would be refused, or None."""

    def check(row: OutcomeRow) -> str | None:
        try:
            validate.outcome(_proto(row), providers, "")
        except RequestError as exc:
            return str(exc)
        return None

    return check


def _proto(row: OutcomeRow) -> types_pb2.Outcome:
    return types_pb2.Outcome(
        account_id=row.account_id,
        ip=row.ip,
        mailbox_provider=row.mailbox_provider,
        day=row.day.isoformat(),
        delivered=row.delivered,
        deferred=row.deferred,
        bounced=row.bounced,
        throttled=row.throttled,
    )


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while inside; the old handlers come back after."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("received %s: reporting what was read, then stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
