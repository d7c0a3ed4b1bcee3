"""Request validation: every rule broken is named with its field."""

from __future__ import annotations

import pytest

from sendingip.v1 import router_pb2, types_pb2
from server.management import validation
from server.management.errors import InvalidArgument
from server.router import validate
from server.router.history import HistoryBuffer
from server.router.providers import ProviderTable
from server.router.validate import RequestError

TABLE = ProviderTable()


def _req(**kw: object) -> router_pb2.SelectSendingIPRequest:
    fields: dict[str, object] = {"account_id": "acme", "message_id": "<1@x>", "recipient_domain": "gmail.com"}
    fields.update(kw)
    return router_pb2.SelectSendingIPRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"account_id": ""}, "account_id: required"),
        ({"account_id": "a b"}, "account_id: must be 1-128 characters"),
        ({"account_id": "x" * 129}, "account_id: must be 1-128 characters"),
        ({"message_id": ""}, "message_id: required"),
        ({"message_id": "é" * 500}, "message_id: must be at most 998 bytes"),
        ({"message_id": "x" * 999}, "message_id: must be at most 998 bytes"),
        ({"region": "US East"}, "region: must be 1-63 characters"),
        ({"recipient_domain": ""}, "recipient_domain: required unless mailbox_provider is set"),
        ({"recipient_domain": "a b.com"}, "recipient_domain: must be a domain name"),
        ({"mailbox_provider": "hotmail"}, "mailbox_provider: unknown provider; expected one of apple, google"),
        ({"mailbox_provider": "Google!"}, "mailbox_provider: must be 1-32 characters"),
    ],
)
def test_a_bad_field_is_named(fields: dict[str, object], message: str) -> None:
    with pytest.raises(RequestError, match=message):
        validate.select_provider(_req(**fields), TABLE, "requests[3].")
    with pytest.raises(RequestError, match=f"^requests\\[3\\]\\.{message.split(':')[0]}"):
        validate.select_provider(_req(**fields), TABLE, "requests[3].")


def test_limits_are_inclusive() -> None:
    assert validate.select_provider(_req(account_id="a" * 128, message_id="é" * 499), TABLE) == "google"
    assert validate.select_provider(_req(account_id="a.b_c:d@e-f", message_id="x" * 998), TABLE) == "google"


@pytest.mark.parametrize(
    ("domain", "provider"),
    [
        ("gmail.com", "google"),
        ("GoogleMail.com.", "google"),
        ("someone@Hotmail.com", "microsoft"),
        ("live.com", "microsoft"),
        ("msn.com", "microsoft"),
        ("outlook.com", "microsoft"),
        ("ymail.com", "yahoo"),
        ("aol.com", "yahoo"),
        ("me.com", "apple"),
        ("mac.com", "apple"),
        ("icloud.com", "apple"),
        ("example.org", "other"),
    ],
)
def test_recipient_domains_are_classified(domain: str, provider: str) -> None:
    assert validate.select_provider(_req(recipient_domain=domain), TABLE) == provider


def test_an_explicit_provider_wins_and_the_table_is_configurable() -> None:
    assert validate.select_provider(_req(mailbox_provider="yahoo"), TABLE) == "yahoo"
    table = ProviderTable.with_overrides("google=corp.example, gmail.com;fastmail=fastmail.com")
    assert table.classify("corp.example") == "google"
    assert table.classify("fastmail.com") == "fastmail"
    assert "fastmail" in table.providers
    with pytest.raises(ValueError, match="not provider=domain"):
        ProviderTable.with_overrides("gmail.com")


def test_outcomes_are_validated_field_by_field() -> None:
    good = types_pb2.Outcome(
        account_id="acme", ip="2001:DB8::1", mailbox_provider="google", day="2025-02-28", delivered=3
    )
    assert validate.outcome(good, TABLE, "outcomes[0].")[2] == "2001:db8::1"
    cases: list[tuple[dict[str, object], str]] = [
        ({"ip": "300.1.1.1"}, r"outcomes\[0\]\.ip: '300.1.1.1' is not an IPv4 or IPv6 address"),
        ({"day": "2025-02-30"}, r"outcomes\[0\]\.day: '2025-02-30' is not a date"),
        ({"bounced": -1}, r"outcomes\[0\]\.bounced: must not be negative"),
        ({"mailbox_provider": ""}, r"outcomes\[0\]\.mailbox_provider"),
    ]
    for change, message in cases:
        bad = types_pb2.Outcome()
        bad.CopyFrom(good)
        for k, v in change.items():
            setattr(bad, k, v)
        with pytest.raises(RequestError, match=message):
            validate.outcome(bad, TABLE, "outcomes[0].")
    with pytest.raises(RequestError, match="requests: 1001 items; at most 1000"):
        validate.batch_size(1001, 1000, "requests")


def test_the_history_buffer_is_bounded_but_existing_keys_keep_counting() -> None:
    buffer = HistoryBuffer(max_keys=2)
    for key in [(1, "a", "ip", "p"), (1, "b", "ip", "p"), (1, "c", "ip", "p"), (1, "a", "ip", "p")]:
        buffer.add(key)
    assert buffer.pending == {(1, "a", "ip", "p"): 2, (1, "b", "ip", "p"): 1}
    assert buffer.dropped == 1
    flush = buffer.take()
    assert flush is not None and flush.picks == 3 and buffer.pending == {}


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("fe80::1%eth0", "carries an IPv6 zone id"),
        ("fe80::1%\x00", "carries an IPv6 zone id"),
        ("fe80::1%", "carries an IPv6 zone id"),
        ("192.0.2.1\x00", "is not an IPv4 or IPv6 address"),
        ("192.0.2.0/24", "is not an IPv4 or IPv6 address"),
        ("224.0.0.1", "cannot be a sending address"),
        ("ff02::1", "cannot be a sending address"),
        ("::", "cannot be a sending address"),
        ("::ffff:0.0.0.0", "cannot be a sending address"),
        ("::ffff:224.0.0.1", "cannot be a sending address"),
    ],
)
def test_one_address_rule_refuses_zone_ids_networks_and_multicast_at_both_services(value: str, rule: str) -> None:
    with pytest.raises(RequestError, match=f"^outcomes\\[2\\]\\.ip: .*{rule}"):
        validate.ip(value, "outcomes[2].ip")
    # The Management service applies the very same rule (AddIPs, ImportHistory).
    with pytest.raises(InvalidArgument, match=f"^volumes\\[2\\]\\.ip: .*{rule}"):
        validation.ip(value, "volumes[2].ip")


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("::FFFF:c000:0201", "192.0.2.1"),
        (" 192.0.2.1 ", "192.0.2.1"),
        ("2001:DB8:0::1", "2001:db8::1"),
        ("127.0.0.2", "127.0.0.2"),
    ],
)
def test_an_address_has_one_text_wherever_it_is_stored(value: str, stored: str) -> None:
    assert validate.ip(value) == stored
    assert str(validation.ip(value, "addresses[0]")) == stored


def test_counts_are_bounded_per_row_at_both_services() -> None:
    assert validate.count(validate.MAX_COUNT, "delivered") == 10**9
    with pytest.raises(RequestError, match=r"^outcomes\[0\]\.delivered: must be at most 1,000,000,000"):
        validate.count(10**9 + 1, "outcomes[0].delivered")
    with pytest.raises(InvalidArgument, match=r"^volumes\[4\]\.count: must be at most 1,000,000,000"):
        validation.count(2**62, "volumes[4].count")
    with pytest.raises(InvalidArgument, match=r"^volumes\[4\]\.count: must not be negative"):
        validation.count(-1, "volumes[4].count")
    outcome = types_pb2.Outcome(account_id="acme", mailbox_provider="google", day="2026-03-01", throttled=10**9 + 1)
    with pytest.raises(RequestError, match=r"^outcomes\[7\]\.throttled: must be at most"):
        validate.outcome(outcome, TABLE, "outcomes[7].")
