"""A private Postfix and an SMTP sink on loopback, for tests that send real mail through sendingip.

Why it is built this way:

- The Postfix is Debian's own binary, started with ``postfix -c DIR start`` on a configuration
  directory of the test's own (its own queue, data directory, log file and ports): a system-wide
  Postfix is never read, started or stopped. ``postfix -c`` needs root (the master starts its
  daemons as root and they drop to the ``postfix`` user), so the test skips without root or
  without Postfix, except in CI, where it must run.
- Everything lives in a folder under ``/tmp`` that the ``postfix`` user can traverse, not below
  pytest's ``tmp_path`` (``/tmp/pytest-of-root`` is mode 0700). The configuration sits in
  ``DIR/etc``, apart from ``DIR/queue``: ``postfix check`` wants every file below the
  configuration directory owned by root, and the queue's folders belong to ``postfix``.
- The log goes to a file (``maillog_file`` through the ``postlog`` service), no syslog needed,
  so the test and ``sendingip outcomes follow-postfix`` read exactly what this instance wrote.
- The sink is aiosmtpd on an event loop in a thread of its own: Postfix's deliveries arrive
  while the test body blocks on ``smtplib`` and polling. It records every connection's peer
  address, because the source address is what sendingip chose. A recipient whose local part
  starts with ``bounce`` is refused with a 5xx, so Postfix bounces it at once and logs
  ``status=bounced``.
- 127.0.0.0/8 is all on ``lo``: Postfix binds any of those addresses with ``smtp_bind_address``
  and the sink sees exactly that peer, so loopback addresses stand in for sending IPs.

``python -m tests.e2e.postfix --policy HOST:PORT --transports FILE`` runs the same pair by
hand (docs/mta.md, "Try it on loopback") and prints each message the sink gets with the
address it came from.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from server.adapters.postfix_names import ip_from_transport

POSTFIX = shutil.which("postfix", path="/usr/sbin:/usr/bin:/sbin:/bin")

#: smtpd's line when the policy service answered ``FILTER transport:`` at END-OF-MESSAGE
#: (``to=`` is there when the message has one recipient).
_FILTER = re.compile(
    r" ([0-9A-F]+): filter: END-OF-MESSAGE .*triggers FILTER (\S+?):\S*; from=<([^>]*)>(?: to=<([^>]*)>)?"
)


def postfix_missing_reason() -> str | None:
    """Why a real Postfix cannot run here, or ``None`` when it can."""
    if POSTFIX is None:
        return "Postfix is not installed (Debian: apt-get install postfix; .ci/run installs it as root)"
    if os.geteuid() != 0:
        return "a private Postfix (postfix -c DIR start) needs root"
    return None


def free_port() -> int:
    """A port free on 127.0.0.1 now (for configuration files that need a number up front)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Received:
    """One message the sink accepted."""

    peer: str
    mail_from: str  # "" for a bounce notification (null sender)
    recipients: tuple[str, ...]
    message_id: str


@dataclass(frozen=True)
class Refused:
    """One recipient the sink refused (550), so Postfix bounces it."""

    peer: str
    mail_from: str
    recipient: str


_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)


@dataclass
class _Recorder:
    """The aiosmtpd handler: what arrived, and from which address."""

    received: list[Received] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # aiosmtpd's hook names.
    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.partition("@")[0].lower().startswith("bounce"):
            with self.lock:
                self.refused.append(Refused(_peer(session), _sender(envelope), address))
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        match = _MESSAGE_ID.search(content.split(b"\r\n\r\n", 1)[0])
        record = Received(
            _peer(session), _sender(envelope), tuple(envelope.rcpt_tos), match[1].decode() if match else ""
        )
        with self.lock:
            self.received.append(record)
        return "250 2.0.0 OK"


def _peer(session: Session) -> str:
    """The client's address (``session.peer`` is (host, port) for TCP)."""
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple) else str(peer)


def _sender(envelope: Envelope) -> str:
    """The envelope sender, ``""`` for the null sender of a bounce notification."""
    sender = envelope.mail_from or ""
    return "" if sender == "<>" else sender


class SmtpSink:
    """aiosmtpd on 127.0.0.1 (a free port) in a thread of its own; ``close()`` stops it."""

    def __init__(self) -> None:
        self._recorder = _Recorder()
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._run, name="smtp-sink", daemon=True)
        self._thread.start()
        if not self._started.wait(10) or self._server is None:
            raise RuntimeError("the SMTP sink did not start")
        self.port: int = int(self._server.sockets[0].getsockname()[1])

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        def protocol() -> SMTP:
            return SMTP(self._recorder, hostname="sink.sendingip.test", loop=self._loop)

        try:
            self._server = self._loop.run_until_complete(self._loop.create_server(protocol, "127.0.0.1", 0))
        finally:
            self._started.set()
        self._loop.run_forever()
        self._server.close()
        self._loop.run_until_complete(self._server.wait_closed())
        self._loop.close()

    @property
    def received(self) -> list[Received]:
        with self._recorder.lock:
            return list(self._recorder.received)

    @property
    def refused(self) -> list[Refused]:
        with self._recorder.lock:
            return list(self._recorder.refused)

    def close(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


@dataclass(frozen=True)
class FilterChoice:
    """smtpd's record of the transport the policy service chose for one queue id."""

    queue_id: str
    transport: str
    ip: str | None
    sender: str
    recipient: str  # empty when the message had several recipients


_MAIN_CF = """\
# A private instance for one test: nothing here is read by, or touches, a system-wide Postfix.
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mta.sendingip.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
local_transport = error:this test Postfix delivers nothing locally
alias_maps =
alias_database =
biff = no
smtpd_peername_lookup = no
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
# Where the FILTER sendingip_<ip>: transports deliver (their next hop is empty) and where
# everything else (bounce notifications) goes: the sink.
default_filter_nexthop = [127.0.0.1]:{sink_port}
relayhost = [127.0.0.1]:{sink_port}
# Never send from another address when binding the chosen one fails: defer instead.
smtp_bind_address_enforce = yes
smtpd_end_of_data_restrictions = check_policy_service inet:{policy}
# Fail fast in a test: a wrong answer shows at once, not after minutes of retries.
smtpd_policy_service_timeout = 10s
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
"""

#: Only the services a relay-only instance needs, none in a chroot.
_MASTER_CF = """\
127.0.0.1:{smtpd_port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PrivatePostfix:
    """Debian's Postfix on a configuration of its own, relaying everything to ``sink_port``.

    ``policy`` is the policy service's ``HOST:PORT`` (sendingip's ``SENDINGIP_POSTFIX_LISTEN``);
    ``transports`` (the output of ``sendingip postfix master-cf``) is appended to master.cf;
    smtpd listens on ``smtpd_port`` (a free one when 0). Use as a context manager, or call
    ``start()`` and, always, ``stop()``.
    """

    def __init__(self, sink_port: int, policy: str, transports: str = "", smtpd_port: int = 0) -> None:
        if POSTFIX is None:
            raise RuntimeError(postfix_missing_reason())
        self.dir = Path(tempfile.mkdtemp(prefix="sendingip-postfix-"))
        self.dir.chmod(0o755)  # the postfix user reads its queue and data folders through it
        self.config_dir = self.dir / "etc"
        self.maillog = self.dir / "maillog"
        self.smtpd_port = smtpd_port or free_port()
        self.config_dir.mkdir()
        (self.dir / "queue").mkdir()
        (self.dir / "data").mkdir()
        shutil.chown(self.dir / "data", "postfix")
        (self.config_dir / "main.cf").write_text(
            _MAIN_CF.format(dir=self.dir, sink_port=sink_port, policy=policy), encoding="utf-8"
        )
        master = _MASTER_CF.format(smtpd_port=self.smtpd_port)
        if transports:
            master += "\n# sendingip postfix master-cf\n" + transports.rstrip("\n") + "\n"
        (self.config_dir / "master.cf").write_text(master, encoding="utf-8")
        self._master_pid: int | None = None

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(POSTFIX), "-c", str(self.config_dir), *args], capture_output=True, text=True, timeout=60
        )

    def start(self) -> None:
        result = self._postfix("start")
        if result.returncode != 0:
            raise RuntimeError(f"postfix start failed: {result.stdout}{result.stderr}\n{self.log()}")
        pid_file = self.dir / "queue" / "pid" / "master.pid"
        deadline = time.monotonic() + 15
        while not pid_file.exists() or not pid_file.read_text().strip():
            if time.monotonic() > deadline:
                raise RuntimeError(f"no master.pid after postfix start:\n{self.log()}")
            time.sleep(0.05)
        self._master_pid = int(pid_file.read_text().strip())
        self._wait_smtpd()

    def _wait_smtpd(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.smtpd_port), timeout=1):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"Postfix's smtpd is not listening on {self.smtpd_port}:\n{self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """``postfix stop``, then make sure this instance's master (and only it) is gone."""
        if self._master_pid is not None:
            self._postfix("stop")
            if not _wait_gone(self._master_pid, 15):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self._master_pid, signal.SIGKILL)
                _wait_gone(self._master_pid, 5)
            self._master_pid = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivatePostfix:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def log(self) -> str:
        try:
            return self.maillog.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def filter_choices(self) -> list[FilterChoice]:
        """Every ``triggers FILTER`` line smtpd logged, in order."""
        return [
            FilterChoice(m[1], m[2], ip_from_transport(m[2]), m[3], m[4] or "")
            for m in (_FILTER.search(line) for line in self.log().splitlines())
            if m is not None
        ]

    def queue_is_empty(self) -> bool:
        """Nothing waiting in this instance's queue (every message delivered or bounced)."""
        queue = self.dir / "queue"
        return not any(
            any(True for _ in (queue / name).rglob("*") if _.is_file())
            for name in ("incoming", "active", "deferred", "maildrop", "hold")
        )


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def single_recipient(addresses: Iterable[str]) -> str:
    """The one address of a single-recipient envelope (the test sends one per message)."""
    (address,) = tuple(addresses)
    return address


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.e2e.postfix",
        description="A private Postfix (its own config, queue and log under /tmp; no system mail service is "
        "touched) that asks sendingip's policy door for each message's IP and relays to an SMTP sink on "
        "127.0.0.1, which prints every message with the address it came from. Needs root. Ctrl-C stops both.",
    )
    parser.add_argument(
        "--policy", required=True, metavar="HOST:PORT", help="the policy door (SENDINGIP_POSTFIX_LISTEN)"
    )
    parser.add_argument("--transports", type=Path, metavar="FILE", help="the output of `sendingip postfix master-cf`")
    parser.add_argument("--smtpd-port", type=int, default=10025, help="where Postfix accepts mail (default 10025)")
    args = parser.parse_args(argv)
    if (reason := postfix_missing_reason()) is not None:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    transports = args.transports.read_text(encoding="utf-8") if args.transports else ""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sink = SmtpSink()
    try:
        with PrivatePostfix(sink.port, args.policy, transports, args.smtpd_port) as postfix:
            print(
                f"Postfix accepts mail on 127.0.0.1:{postfix.smtpd_port} and relays to the sink on "
                f"127.0.0.1:{sink.port}.\nIts log: {postfix.maillog} (removed at exit). Ctrl-C stops.",
                flush=True,
            )
            _print_arrivals(sink)
    except KeyboardInterrupt:
        pass
    finally:
        sink.close()
    return 0


def _print_arrivals(sink: SmtpSink) -> None:
    """Forever: each message (and each refused recipient) the sink gets, with its peer address."""
    shown_received = shown_refused = 0
    while True:
        received, refused = sink.received, sink.refused
        for r in received[shown_received:]:
            kind = "bounce notice" if not r.mail_from else "accepted"
            print(f"sink: {kind} from {r.peer}: <{r.mail_from}> -> {', '.join(r.recipients)}", flush=True)
        for f in refused[shown_refused:]:
            print(f"sink: refused (550) from {f.peer}: <{f.mail_from}> -> {f.recipient}", flush=True)
        shown_received, shown_refused = len(received), len(refused)
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
