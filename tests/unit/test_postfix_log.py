"""Postfix's log as outcomes (cli/follow_postfix/postfix_log.py): parsing, classification,
the day of a line, attribution to accounts. Pure: lines in, counts out."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.follow_postfix.postfix_log import Accounts, Counts, Kind, LineClock, PostfixLog, classify
from server.adapters.postfix_names import account_of
from server.router.providers import ProviderTable

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
QID = "4F2A91C3B7"


def _log(mode: str = "sasl_username", *, now: datetime = NOW, tz: tzinfo = UTC, limit: int = 1000) -> PostfixLog:
    return PostfixLog(Accounts(mode, limit), ProviderTable(), LineClock(tz, now))


def _client(qid: str = QID, user: str = "acme", stamp: str = "Dec 01 10:00:00") -> bytes:
    return (
        f"{stamp} mx postfix/submission/smtpd[100]: {qid}: client=app.example[203.0.113.9], "
        f"sasl_method=PLAIN, sasl_username={user}"
    ).encode()


def _from(qid: str = QID, sender: str = "news@acme.example", stamp: str = "Dec 01 10:00:01") -> bytes:
    return f"{stamp} mx postfix/qmgr[101]: {qid}: from=<{sender}>, size=1234, nrcpt=2 (queue active)".encode()


def _to(
    rcpt: str = "a@gmail.com",
    *,
    qid: str = QID,
    status: str = "sent",
    dsn: str = "2.0.0",
    why: str = "(250 2.0.0 OK queued)",
    program: str = "postfix/sendingip_192_0_2_1/smtp",
    stamp: str = "Dec 01 10:00:02",
) -> bytes:
    return (
        f"{stamp} mx {program}[123]: {qid}: to=<{rcpt}>, relay=mx.example[198.51.100.7]:25, delay=0.4, "
        f"delays=0.1/0/0.1/0.2, dsn={dsn}, status={status} {why}"
    ).encode()


def _feed(log: PostfixLog, *lines: bytes) -> tuple[dict[tuple[date, str, str, str], list[int]], Counts]:
    for line in lines:
        log.feed(line)
    return log.take()


# -- classification ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "dsn", "why", "kind"),
    [
        ("sent", "2.0.0", "(250 2.0.0 OK)", Kind.DELIVERED),
        (
            "bounced",
            "5.1.1",
            "(host mx[1.2.3.4] said: 550 5.1.1 no such user (in reply to RCPT TO command))",
            Kind.BOUNCED,
        ),
        ("bounced", "5.7.1", "(host mx[1.2.3.4] said: 550 5.7.1 blocked)", Kind.BOUNCED),
        # Throttling: any 4.7.x enhanced code, or a 421 reply, whatever its enhanced code.
        (
            "deferred",
            "4.7.28",
            "(host gmail-smtp-in.l.google.com[1.2.3.4] said: 421-4.7.28 rate limited)",
            Kind.THROTTLED,
        ),
        (
            "deferred",
            "4.7.0",
            "(host mx[1.2.3.4] said: 421 4.7.0 try again later (in reply to MAIL FROM command))",
            Kind.THROTTLED,
        ),
        ("deferred", "4.7.500", "(host outlook[1.2.3.4] said: 451 4.7.500 Server busy)", Kind.THROTTLED),
        ("deferred", "4.0.0", "(host mx[1.2.3.4] said: 421 Too many connections from your IP)", Kind.THROTTLED),
        ("deferred", "4.0.0", "(host mx[1.2.3.4] refused to talk to me: 421 Service not available)", Kind.THROTTLED),
        # Other deferrals are not throttling.
        ("deferred", "4.4.1", "(connect to mx[1.2.3.4]:25: Connection refused)", Kind.DEFERRED),
        (
            "deferred",
            "4.4.2",
            "(conversation with mx[1.2.3.4] timed out while receiving the initial server greeting)",
            Kind.DEFERRED,
        ),
        ("deferred", "4.2.2", "(host mx[1.2.3.4] said: 452 4.2.2 mailbox full)", Kind.DEFERRED),
        ("deferred", "4.0.0", "(host mx[1.2.3.4] said: 450 greylisted, see 4210 or 421x)", Kind.DEFERRED),
        ("deferred", "4.0.0", "(host mx[1.2.3.4] said: 4210 odd reply)", Kind.DEFERRED),
    ],
)
def test_classification(status: str, dsn: str, why: str, kind: Kind) -> None:
    assert classify(status, dsn, " " + why) is kind
    # and through a whole line: exactly one of the four counts moves
    log = _log()
    tally, _ = _feed(log, _client(), _to(status=status, dsn=dsn, why=why))
    expected = [0, 0, 0, 0]
    expected[kind] = 1
    assert tally == {(date(2026, 12, 1), "acme", "192.0.2.1", "google"): expected}


def test_counts_add_up_per_day_account_ip_and_provider() -> None:
    log = _log()
    tally, counts = _feed(
        log,
        _client(),
        _client(qid="5B00000001", user="globex"),
        _to("a@gmail.com"),
        _to("b@googlemail.com"),
        _to("c@hotmail.com", status="bounced", dsn="5.1.1", why="(said: 550 no)"),
        _to("d@example.org", status="deferred", dsn="4.4.1", why="(connect refused)"),
        _to("e@gmail.com", status="deferred", dsn="4.7.28", why="(said: 421-4.7.28 slow down)"),
        _to("f@gmail.com", program="postfix/sendingip_192_0_2_2/smtp"),
        _to("g@yahoo.com", qid="5B00000001", program="postfix/sendingip_2001_db8__1/smtp"),
    )
    day = date(2026, 12, 1)
    assert tally == {
        (day, "acme", "192.0.2.1", "google"): [2, 0, 0, 1],
        (day, "acme", "192.0.2.1", "microsoft"): [0, 0, 1, 0],
        (day, "acme", "192.0.2.1", "other"): [0, 1, 0, 0],
        (day, "acme", "192.0.2.2", "google"): [1, 0, 0, 0],
        (day, "globex", "2001:db8::1", "yahoo"): [1, 0, 0, 0],
    }
    assert (counts.lines, counts.delivered, counts.deferred, counts.bounced, counts.throttled) == (9, 4, 1, 1, 1)
    assert log.take()[0] == {}  # take() hands the counts over once


def test_provider_overrides_apply_as_in_the_router() -> None:
    table = ProviderTable.with_overrides("corp=mail.corp.example;google=acme-mail.example")
    log = PostfixLog(Accounts("sasl_username", 10), table, LineClock(UTC, NOW))
    tally, _ = _feed(log, _client(), _to("a@mail.corp.example"), _to("b@ACME-mail.example."))
    assert set(tally) == {
        (date(2026, 12, 1), "acme", "192.0.2.1", "corp"),
        (date(2026, 12, 1), "acme", "192.0.2.1", "google"),
    }


@pytest.mark.parametrize(
    "program",
    [
        "postfix/smtp",  # the default transport: not routed by us
        "postfix/relay/smtp",
        "postfix/qmgr",
        "postfix/sendingip_not_an_ip/smtp",
        "postfix/sendingip_999_1_1_1/smtp",
        "sendingip_192_0_2_1",  # the transport name alone, without the delivery agent
    ],
)
def test_lines_of_other_programs_are_ignored(program: str) -> None:
    tally, counts = _feed(_log(), _client(), _to(program=program))
    assert tally == {}
    assert counts.unattributed == 0


def test_a_custom_syslog_prefix_still_names_the_ip() -> None:
    tally, _ = _feed(_log(), _client(), _to(program="postfix-out/sendingip_192_0_2_9/lmtp"))
    assert list(tally) == [(date(2026, 12, 1), "acme", "192.0.2.9", "google")]


def test_our_transports_other_lines_are_not_deliveries() -> None:
    lines = [
        b"Dec 01 10:00:02 mx postfix/sendingip_192_0_2_1/smtp[123]: connect to mx[1.2.3.4]:25: Connection refused",
        b"Dec 01 10:00:02 mx postfix/sendingip_192_0_2_1/smtp[123]: warning: no MX host for x.example",
        f"Dec 01 10:00:02 mx postfix/sendingip_192_0_2_1/smtp[123]: {QID}: host mx said: 421 busy".encode(),
        f"Dec 01 10:00:02 mx postfix/sendingip_192_0_2_1/smtp[123]: {QID}: to=<a@gmail.com>, status=sent".encode(),
    ]
    tally, _ = _feed(_log(), _client(), *lines)
    assert tally == {}


# -- timestamps and the day --------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "day"),
    [
        ("Dec 01 10:00:02", date(2026, 12, 1)),  # Postfix's maillog_file: zero-padded day
        ("Dec  1 10:00:02", date(2026, 12, 1)),  # classic syslog: space-padded
        ("Nov 30 23:59:59.123456", date(2026, 11, 30)),  # with a fraction
        ("2026-11-30T23:59:59.123456+00:00", date(2026, 11, 30)),  # RFC 3339
        ("2026-11-30T23:59:59Z", date(2026, 11, 30)),
        ("2026-12-01T00:30:00+01:00", date(2026, 11, 30)),  # its own zone wins
        ("2026-11-30T20:30:00-0500", date(2026, 12, 1)),
    ],
)
def test_the_day_is_the_lines_date_in_utc(stamp: str, day: date) -> None:
    tally, _ = _feed(_log(), _client(), _to(stamp=stamp))
    assert [key[0] for key in tally] == [day]


@pytest.mark.parametrize(
    ("zone", "stamp", "day"),
    [
        ("Europe/Paris", "Dec 01 00:30:00", date(2026, 11, 30)),  # 23:30 UTC the day before
        ("Europe/Paris", "Jul 01 01:30:00", date(2026, 6, 30)),  # summer time: UTC+2
        ("Europe/Paris", "Jul 01 02:30:00", date(2026, 7, 1)),
        ("America/New_York", "Nov 30 19:30:00", date(2026, 12, 1)),
        ("Asia/Kolkata", "Dec 01 05:29:00", date(2026, 11, 30)),  # a half-hour offset
        ("Asia/Kolkata", "Dec 01 05:30:00", date(2026, 12, 1)),
        ("Europe/Paris", "2026-12-01T00:30:00", date(2026, 11, 30)),  # RFC 3339 without a zone
    ],
)
def test_syslog_stamps_are_read_in_the_logs_zone(zone: str, stamp: str, day: date) -> None:
    tally, _ = _feed(_log(tz=ZoneInfo(zone)), _client(), _to(stamp=stamp))
    assert [key[0] for key in tally] == [day]


@pytest.mark.parametrize(
    ("now", "stamp", "day"),
    [
        # December's lines read in January are last year's.
        (datetime(2027, 1, 2, 9, 0, tzinfo=UTC), "Dec 31 23:59:00", date(2026, 12, 31)),
        (datetime(2027, 1, 2, 9, 0, tzinfo=UTC), "Jan 01 00:00:10", date(2027, 1, 1)),
        # A log host a little ahead of ours at New Year: still the new year.
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), "Jan 01 00:00:30", date(2027, 1, 1)),
        # An old backlog: as long as it is under a year old, its year is right.
        (datetime(2026, 12, 1, 0, 0, tzinfo=UTC), "Dec 05 10:00:00", date(2025, 12, 5)),
        (datetime(2026, 3, 1, 12, 0, tzinfo=UTC), "Feb 29 10:00:00", date(2024, 2, 29)),  # the latest leap year
        (datetime(2028, 3, 1, 12, 0, tzinfo=UTC), "Feb 29 10:00:00", date(2028, 2, 29)),
    ],
)
def test_syslog_stamps_have_no_year_the_latest_one_not_in_the_future_is_taken(
    now: datetime, stamp: str, day: date
) -> None:
    log = _log(now=now)
    tally, _ = _feed(log, _client(stamp=stamp), _to(stamp=stamp))
    assert [key[0] for key in tally] == [day]


def test_a_delivery_with_an_unreadable_date_is_counted_as_undated() -> None:
    tally, counts = _feed(_log(), _client(), _to(stamp="Dec 01 25:61:00"), _to(stamp="Feb 30 10:00:00"))
    assert tally == {}
    assert counts.undated == 2


def test_set_now_moves_the_year() -> None:
    log = _log(now=datetime(2026, 12, 30, 12, tzinfo=UTC))
    log.feed(_client())
    log.feed(_to(stamp="Jan 01 10:00:00"))
    log.clock.set_now(datetime(2027, 1, 1, 12, tzinfo=UTC))
    log.feed(_to(stamp="Jan 01 10:00:00"))
    assert {key[0] for key in log.take()[0]} == {date(2026, 1, 1), date(2027, 1, 1)}


# -- attribution -----------------------------------------------------------------------------


def test_sasl_username_mode_takes_the_account_from_smtpds_client_line() -> None:
    tally, counts = _feed(
        _log("sasl_username"),
        b"Dec 01 10:00:00 mx postfix/smtpd[100]: 5C00000001: client=unknown[203.0.113.9]",  # no login
        _client(qid="5C00000002", user="globex"),
        _from(qid="5C00000002", sender="someone@else.example"),  # not used in this mode
        _to(qid="5C00000001"),
        _to(qid="5C00000002"),
    )
    assert {key[1] for key in tally} == {"globex"}
    assert counts.unattributed == 1


@pytest.mark.parametrize(
    ("mode", "sender", "account"),
    [
        ("sender", "news@acme.example", "news@acme.example"),
        ("sender_domain", "news@acme.example", "acme.example"),
        ("sender_domain", '"odd@local"@acme.example', "acme.example"),
    ],
)
def test_sender_modes_take_the_account_from_qmgrs_from_line(mode: str, sender: str, account: str) -> None:
    tally, _ = _feed(_log(mode), _client(user="ignored"), _from(sender=sender), _to())
    assert [key[1] for key in tally] == [account]


@pytest.mark.parametrize(
    ("mode", "value", "account"),
    [
        ("sender", "", None),  # the null sender of a bounce
        ("sender_domain", "", None),
        ("sender_domain", "News@ACME.Example", "acme.example"),
        ("sender_domain", "root@", None),
        ("sender", "News@ACME.Example", "News@ACME.Example"),
        ("sasl_username", " acme ", "acme"),
        ("sasl_username", "", None),
    ],
)
def test_account_of(mode: str, value: str, account: str | None) -> None:
    assert account_of(mode, value) == account


def test_a_null_sender_attributes_nothing() -> None:
    tally, counts = _feed(_log("sender"), _from(sender=""), _to())
    assert tally == {}
    assert counts.unattributed == 1


def test_unattributed_deliveries_are_counted_with_examples_not_reported() -> None:
    log = _log()
    lines = [_to(qid=f"6D0000000{i}") for i in range(5)]
    tally, counts = _feed(log, *lines)
    assert tally == {}
    assert counts.unattributed == 5
    assert counts.unattributed_examples == ["6D00000000", "6D00000001", "6D00000002"]


def test_removed_forgets_a_queue_id() -> None:
    log = _log()
    tally, counts = _feed(
        log, _client(), _to(), f"Dec 01 10:00:03 mx postfix/qmgr[101]: {QID}: removed".encode(), _to()
    )
    assert sum(sum(v) for v in tally.values()) == 1
    assert counts.unattributed == 1
    assert len(log.accounts) == 0


def test_the_queue_id_map_is_bounded_oldest_first_and_persists_in_order() -> None:
    accounts = Accounts("sasl_username", 3)
    for i in range(5):
        accounts.note(f"7E0000000{i}", f"client=x[1.2.3.4], sasl_method=PLAIN, sasl_username=user{i}")
    assert accounts.items() == [("7E00000002", "user2"), ("7E00000003", "user3"), ("7E00000004", "user4")]
    assert accounts.evicted == 2
    again = Accounts("sasl_username", 3, accounts.items())
    assert again.get("7E00000004") == "user4"
    assert again.get("7E00000001") is None


def test_long_queue_ids_and_not_queue_ids() -> None:
    long_qid = "4dQm6V2Xn7z3Ylk"
    tally, _ = _feed(_log(), _client(qid=long_qid), _to(qid=long_qid))
    assert len(tally) == 1
    # `warning:` and `NOQUEUE:` look like queue ids to a loose pattern; they are not.
    accounts = Accounts("sasl_username", 10)
    log = PostfixLog(accounts, ProviderTable(), LineClock(UTC, NOW))
    log.feed(b"Dec 01 10:00:00 mx postfix/smtpd[1]: NOQUEUE: client=x[1.2.3.4], sasl_username=evil")
    log.feed(b"Dec 01 10:00:00 mx postfix/smtpd[1]: warning: client=x[1.2.3.4], sasl_username=evil")
    assert len(accounts) == 0


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="account mode 'user'"):
        Accounts("user", 10)


# -- robustness ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"\xff\xfe\x00\x01",
        b"Dec 01 10:00:02 mx postfix/sendingip_192_0_2_1/smtp[123]: " + QID.encode() + b": to=<\xff@gmail.com>, "
        b"relay=x, dsn=2.0.0, status=sent (250 \xc3\x28)",
        b"Dec 01 10:00:02 " + b"x" * 100_000,
        b"Dec 01 10:00:02 mx postfix/sendingip_192_0_2_1/smtp[123]: " + QID.encode() + b": to=<" + b"a" * 50_000,
        b"Foo 99 99:99:99 mx postfix/smtp[1]: " + QID.encode() + b": to=<a@b>, dsn=2.0.0, status=sent",
        b"2026-13-45T99:99:99+99:99 mx postfix/sendingip_192_0_2_1/smtp[1]: "
        + QID.encode()
        + b": to=<a@b>, dsn=2.0.0, status=sent",
    ],
)
def test_garbage_never_raises(line: bytes) -> None:
    log = _log()
    log.feed(_client())
    log.feed(line)
    assert log.take()[1].lines == 2


def test_a_non_utf8_recipient_still_counts() -> None:
    log = _log()
    log.feed(_client())
    log.feed(_to("RCPT@gmail.com").replace(b"RCPT", b"\xff\xc3"))
    assert list(log.take()[0]) == [(date(2026, 12, 1), "acme", "192.0.2.1", "google")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_arbitrary_bytes_never_raise(lines: list[bytes]) -> None:
    log = _log()
    for line in lines:
        log.feed(line)
        log.feed(_to().replace(b"status=sent", line[:40]))
    assert log.take()[1].lines == 2 * len(lines)
