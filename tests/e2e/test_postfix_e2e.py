"""A real Postfix routes every message through sendingip, and its log comes back as outcomes.

Set up as an operator would, with the CLI only: a general pool and an inventory of
127.0.0.0/8 addresses, two accounts (``acme.example`` put in Transition by its imported
history and a rebalance, ``small.example`` in General), ``sendingip serve`` with the
Postfix policy door, and Debian's Postfix (a private instance, tests/e2e/postfix.py)
whose master.cf holds what ``sendingip postfix master-cf`` printed. Mail submitted to
Postfix's smtpd must leave from the address sendingip chose for it (smtpd logs the
FILTER per queue id; the sink sees the peer), ``sent_today`` must equal what was sent,
and the sink's bounces must come back as outcomes through ``follow-postfix``, once.

Skipped without root or Postfix, except in CI (``CI=true``, which .ci/run sets), where
it fails instead: this is the test that says a real MTA works with sendingip.
"""

from __future__ import annotations

import json
import os
import smtplib
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.e2e.postfix import PrivatePostfix, SmtpSink, postfix_missing_reason
from tests.support.processes import SENDINGIP, ServerProcess, create_key, sendingip_env

_MISSING = postfix_missing_reason()
_IN_CI = os.environ.get("CI") == "true"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(240),
    # Outside CI, skip before any database is made; in CI, ``postfix_required`` fails instead.
    pytest.mark.skipif(_MISSING is not None and not _IN_CI, reason=str(_MISSING)),
]

REGION = "us-east"
GENERAL_IPS = ("127.0.0.2", "127.0.0.3")
INVENTORY_IPS = tuple(f"127.0.0.{i}" for i in range(10, 21))
#: Recipient domain -> the mailbox provider sendingip classifies it as.
DOMAINS = {"gmail.com": "google", "outlook.com": "microsoft", "example.org": "other"}
#: Messages per account; every tenth recipient is refused by the sink (a bounce).
MESSAGES = {"acme.example": 240, "small.example": 60}
#: acme's daily volume per provider in its imported history. With the dedicated threshold
#: lowered to 30,000 (30 days x 1,200 is above it) acme gets a dedicated IP, whose first
#: warm-up stage (200 a day per provider) carries half of the 400 expected: both pools
#: carry acme's mail, and 80 messages per provider stay below the IP's limit (in the first
#: UTC hour, hourly pacing releases 17 of the 200: the rest overflows to the general pool,
#: so both pools carry acme's mail at any hour).
DAILY_PER_PROVIDER = 400


@dataclass(frozen=True)
class Sent:
    account: str
    recipient: str
    provider: str

    @property
    def message_id(self) -> str:
        return f"<{self.recipient.replace('@', '.')}@test.sendingip>"

    @property
    def bounces(self) -> bool:
        return self.recipient.startswith("bounce")


@dataclass
class Cli:
    env: dict[str, str]

    def run(self, *args: str) -> str:
        result = subprocess.run([SENDINGIP, *args], env=self.env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "Traceback" not in result.stderr, (args, result.stdout, result.stderr)
        return result.stdout


@pytest.fixture
def postfix_required() -> None:
    if _MISSING is not None:
        pytest.fail(f"CI must run the real-Postfix test, but {_MISSING}")


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    try:
        yield sink
    finally:
        sink.close()


def _plan() -> list[Sent]:
    plan = []
    domains = list(DOMAINS)
    for account, count in MESSAGES.items():
        tag = account.split(".")[0]
        for n in range(count):
            domain = domains[n % len(domains)]
            local = f"bounce-{tag}-{n}" if n % 10 == 7 else f"{tag}-{n}"
            plan.append(Sent(account, f"{local}@{domain}", DOMAINS[domain]))
    return plan


def _history_csv(path: Path) -> Path:
    today = datetime.now(UTC).date()
    lines = ["account_id,day,mailbox_provider,ip,count"]
    for back in range(1, 31):
        day = today - timedelta(days=back)
        lines += [f"acme.example,{day},{provider},,{DAILY_PER_PROVIDER}" for provider in DOMAINS.values()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _submit(postfix: PrivatePostfix, plan: list[Sent], connections: int = 3) -> None:
    """Everything in ``plan`` to Postfix's smtpd, one recipient per message, over a few connections."""
    errors: list[BaseException] = []

    def send(part: list[Sent]) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", postfix.smtpd_port, timeout=30) as smtp:
                for sent in part:
                    message = EmailMessage()
                    message["From"] = f"news@{sent.account}"
                    message["To"] = sent.recipient
                    message["Subject"] = f"to {sent.recipient}"
                    message["Message-ID"] = sent.message_id
                    message.set_content("Routed by sendingip.\n")
                    smtp.send_message(message, from_addr=f"news@{sent.account}", to_addrs=[sent.recipient])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(plan[i::connections],)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, f"Postfix refused a submission: {errors[0]!r}\n{postfix.log()[-6000:]}"


def _wait(what: str, done: Callable[[], bool], explain: Callable[[], str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout:g}s:\n{explain()}")
        time.sleep(0.1)


def _status(cli: Cli, account: str) -> dict[str, Any]:
    table = json.loads(cli.run("status", account, "--json"))
    assert isinstance(table, dict)
    return table


def _sent_today(cli: Cli, account: str) -> Counter[str]:
    ips = _status(cli, account)["ips"]
    assert isinstance(ips, list)
    return Counter({ip["address"]: int(ip["sent_today"]) for ip in ips if int(ip["sent_today"])})


def _wait_all_delivered(postfix: PrivatePostfix, sink: SmtpSink, plan: list[Sent]) -> None:
    """Until the sink has every message (or refused its recipient) and Postfix's queue is empty."""
    accepted = sum(1 for s in plan if not s.bounces)
    bounced = len(plan) - accepted

    def done() -> bool:
        return (
            sum(1 for r in sink.received if r.mail_from) >= accepted
            and sum(1 for r in sink.refused if r.mail_from) >= bounced
            and postfix.log().count("status=bounced") >= bounced
            and postfix.queue_is_empty()
        )

    _wait("every message at the sink", done, lambda: postfix.log()[-6000:])


def _check_every_message_left_from_its_chosen_ip(
    postfix: PrivatePostfix, sink: SmtpSink, plan: list[Sent]
) -> dict[str, tuple[Sent, str]]:
    """recipient -> (what was sent, the address it reached the sink from), checked against smtpd's FILTER."""
    choices = {c.recipient: c for c in postfix.filter_choices()}
    # Every message got a FILTER answer naming a sendingip transport ...
    assert sorted(choices) == sorted(s.recipient for s in plan), postfix.log()[-6000:]
    assert all(c.ip is not None for c in choices.values()), [c for c in choices.values() if c.ip is None]
    # ... and left from that address: the sink saw it as the peer, the refused ones too.
    # (Bounce notifications, from the null sender, go by relayhost and are not counted.)
    by_recipient = {s.recipient: s for s in plan}
    arrivals: dict[str, tuple[Sent, str]] = {}
    for received in (r for r in sink.received if r.mail_from):
        (recipient,) = received.recipients
        sent = by_recipient[recipient]
        assert received.mail_from == f"news@{sent.account}" and received.message_id == sent.message_id
        arrivals[recipient] = (sent, received.peer)
    for refused in (r for r in sink.refused if r.mail_from):
        arrivals[refused.recipient] = (by_recipient[refused.recipient], refused.peer)
    assert sorted(arrivals) == sorted(by_recipient), "a message arrived twice or not at all"
    wrong = {rcpt: (peer, choices[rcpt].ip) for rcpt, (_, peer) in arrivals.items() if peer != choices[rcpt].ip}
    assert not wrong, f"sent from another address than sendingip chose (peer, chosen): {wrong}"
    return arrivals


def _peers_by_account(arrivals: dict[str, tuple[Sent, str]]) -> dict[str, Counter[str]]:
    peers: dict[str, Counter[str]] = {account: Counter() for account in MESSAGES}
    for sent, peer in arrivals.values():
        peers[sent.account][peer] += 1
    return peers


def _expected_outcomes(arrivals: dict[str, tuple[Sent, str]]) -> dict[tuple[str, str, str], tuple[int, int, int, int]]:
    """(account, ip, provider) -> (delivered, deferred, bounced, throttled) as the sink answered."""
    counts: dict[tuple[str, str, str], list[int]] = {}
    for sent, peer in arrivals.values():
        row = counts.setdefault((sent.account, peer, sent.provider), [0, 0, 0, 0])
        row[2 if sent.bounces else 0] += 1
    return {key: (a, b, c, d) for key, (a, b, c, d) in counts.items()}


def _wait_sent_today(cli: Cli, account: str, sent: Counter[str]) -> None:
    _wait(
        f"sent_today of {account}",
        lambda: _sent_today(cli, account) == sent,
        lambda: f"status says {_sent_today(cli, account)}, sent {sent}",
        timeout=20,
    )


async def _outcomes(db: asyncpg.Connection) -> dict[tuple[str, str, str], tuple[int, int, int, int]]:
    rows = await db.fetch(
        "SELECT account_id, ip, mailbox_provider, delivered, deferred, bounced, throttled FROM daily_outcomes"
    )
    return {
        (r["account_id"], r["ip"], r["mailbox_provider"]): (r["delivered"], r["deferred"], r["bounced"], r["throttled"])
        for r in rows
    }


async def test_postfix_sends_every_message_from_the_ip_sendingip_chose(
    postfix_required: None, db_url: str, db: asyncpg.Connection, sink: SmtpSink, tmp_path: Path
) -> None:
    admin, route = create_key(db_url, "route,view,admin"), create_key(db_url, "route")
    server = ServerProcess(
        sendingip_env(
            db_url,
            SENDINGIP_DATA_DIR=str(tmp_path / "data"),
            SENDINGIP_METRICS_LISTEN="127.0.0.1:0",
            SENDINGIP_POSTFIX_LISTEN="127.0.0.1:0",
            SENDINGIP_ADAPTER_KEY=route,
            SENDINGIP_POSTFIX_ACCOUNT="sender_domain",
        ),
        ["--no-workers"],
    )
    try:
        policy_port = int(server.wait_line(r"postfix listen=\S+:(\d+)")[1])
        cli = Cli(sendingip_env(db_url, SENDINGIP_LISTEN=server.target, SENDINGIP_API_KEY=admin))

        # The operator's setup, as docs/mta.md tells it.
        cli.run("ips", "add", "--region", REGION, "--general", *GENERAL_IPS)
        cli.run("ips", "add", "--region", REGION, "--inventory", *INVENTORY_IPS)
        cli.run("policy", "set", "dedicated_threshold_30d=30000", "general_threshold_30d=10000")
        for account in MESSAGES:
            cli.run("accounts", "create", account, "--region", REGION)
        cli.run("history", "import", str(_history_csv(tmp_path / "history.csv")))
        cli.run("worker", "--once")
        acme = _status(cli, "acme.example")
        assert acme["account"]["management_type"] == "MANAGEMENT_TYPE_TRANSITION", acme
        dedicated = {ip["address"] for ip in acme["ips"] if ip["pool_type"] == "POOL_TYPE_DEDICATED"}
        assert dedicated and dedicated <= set(INVENTORY_IPS), acme
        version = await db.fetchval("SELECT max(version) FROM routing_entries")
        _wait(
            "the router loading the rebalance",
            lambda: (server.metric("sendingip_routing_version") or 0) >= version,
            lambda: server.output,
        )

        transports = cli.run("postfix", "master-cf")
        for ip in GENERAL_IPS + INVENTORY_IPS:
            name = "sendingip_" + ip.replace(".", "_")
            assert f"{name} unix - - n - - smtp -o smtp_bind_address={ip} " in transports, transports

        plan = _plan()
        with PrivatePostfix(sink.port, f"127.0.0.1:{policy_port}", transports) as postfix:
            _submit(postfix, plan)
            _wait_all_delivered(postfix, sink, plan)
            arrivals = _check_every_message_left_from_its_chosen_ip(postfix, sink, plan)
            peers = _peers_by_account(arrivals)
            # The Transition account sent through its dedicated IP and through the general pool;
            # the General account through the general pool only.
            assert set(peers["acme.example"]) & dedicated and set(peers["acme.example"]) & set(GENERAL_IPS), peers
            assert set(peers["small.example"]) <= set(GENERAL_IPS), peers

            # sent_today, once the router has flushed its counts, is exactly what left, per IP.
            for account in MESSAGES:
                _wait_sent_today(cli, account, peers[account])

            # The log, read by follow-postfix, gives the sink's answers as outcomes, once.
            want = _expected_outcomes(arrivals)
            follower = Cli({**cli.env, "SENDINGIP_POSTFIX_ACCOUNT": "sender_domain"})
            follow = ["outcomes", "follow-postfix", str(postfix.maillog), "--once", "--state", str(tmp_path / "f.json")]
            follower.run(*follow)
            assert await _outcomes(db) == want
            follower.run(*follow)
            assert await _outcomes(db) == want, "a second run counted lines again"
        assert "Traceback" not in server.output, server.output
    finally:
        server.stop()
