"""Request validation: every rule broken is named with its field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import grpc
import pytest

from sendingip.v1 import router_pb2, types_pb2
from server import validate
from server.management.errors import status_for
from server.management.history import Volumes, parse_volumes
from server.router.history_buffer import HistoryBuffer
from server.router.providers import ProviderTable
from server.validate import RequestError
from tests.support.requests import pick_request

TABLE = ProviderTable()


def _req(**kw: object) -> router_pb2.SelectSendingIPRequest:
    """The usual request with the fields ``kw`` (by their proto names) replaced."""
    return pick_request(**kw)  # type: ignore[arg-type]


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
    with pytest.raises(RequestError, match=f"^volumes\\[0\\]\\.ip: .*{rule}"):
        _import(ip=value)


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
    assert str(validate.ip_address(value, "addresses[0]")) == stored
    assert next(iter(_import(ip=value).rows))[2] == stored


def test_counts_are_bounded_per_row_at_both_services() -> None:
    assert validate.count(validate.MAX_COUNT, "delivered") == 10**9
    with pytest.raises(RequestError, match=r"^outcomes\[0\]\.delivered: must be at most 1,000,000,000"):
        validate.count(10**9 + 1, "outcomes[0].delivered")
    with pytest.raises(RequestError, match=r"^volumes\[0\]\.count: must be at most 1,000,000,000"):
        _import(count=2**62)
    with pytest.raises(RequestError, match=r"^volumes\[0\]\.count: must not be negative"):
        _import(count=-1)
    outcome = types_pb2.Outcome(account_id="acme", mailbox_provider="google", day="2026-03-01", throttled=10**9 + 1)
    with pytest.raises(RequestError, match=r"^outcomes\[7\]\.throttled: must be at most"):
        validate.outcome(outcome, TABLE, "outcomes[7].")


TODAY = date(2026, 3, 10)
POLICY_PROVIDERS = ("google", "microsoft", "yahoo", "apple", "other")


def _import(**fields: object) -> Volumes:
    """ImportHistory's checks (the Management door) on one row."""
    row: dict[str, object] = {"account_id": "acme", "day": "2026-03-01", "mailbox_provider": "google", "count": 1}
    row.update(fields)
    return parse_volumes([types_pb2.DailyVolume(**row)], POLICY_PROVIDERS, TODAY, 30)  # type: ignore[arg-type]


def _report(**fields: object) -> tuple[date, str, str, str]:
    """ReportOutcomes' checks (the router's door) on one outcome."""
    outcome: dict[str, object] = {"account_id": "acme", "day": "2026-03-01", "mailbox_provider": "google"}
    outcome.update(fields)
    return validate.outcome(types_pb2.Outcome(**outcome), TABLE, "")  # type: ignore[arg-type]


def _answer(door: Callable[[], object], prefix: str) -> str:
    """What a door says about a value: ``accepted`` or its rule, without the field's prefix."""
    try:
        door()
    except RequestError as exc:
        assert str(exc).startswith(prefix), str(exc)
        return str(exc).removeprefix(prefix)
    return "accepted"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        # The two services used to disagree here: the router took a multicast address.
        ("ip", "224.0.0.1"),
        ("ip", "ff02::1"),
        ("ip", "::ffff:224.0.0.1"),
        ("ip", "0.0.0.0"),
        ("ip", "fe80::1%eth0"),
        ("ip", "192.0.2.0/24"),
        ("ip", "::ffff:192.0.2.1"),
        ("account_id", ""),
        ("account_id", "bad id!"),
        ("account_id", "x" * 129),
        ("account_id", "a.b_c:d@e-f"),
        ("day", "2026-2-1"),
        ("day", "2026-02-30"),
        ("day", "1 March"),
        ("mailbox_provider", ""),
        ("mailbox_provider", "g mail"),
        ("mailbox_provider", "gmx"),
        ("mailbox_provider", "yahoo"),
        ("count", -1),
        ("count", 10**9),
        ("count", 10**9 + 1),
    ],
)
def test_both_services_give_the_same_answer_for_the_same_field(field: str, value: object) -> None:
    """One rule per field: ReportOutcomes (router) and ImportHistory (Management) agree."""
    outcome_field = "delivered" if field == "count" else field  # an Outcome has five counts
    router = _answer(lambda: _report(**{outcome_field: value}), f"{outcome_field}: ")
    management = _answer(lambda: _import(**{field: value}), f"volumes[0].{field}: ")
    assert router == management


def test_a_management_call_answers_a_shared_rule_with_invalid_argument() -> None:
    with pytest.raises(RequestError) as caught:
        _import(ip="224.0.0.1")
    code, message = status_for(caught.value, "ImportHistory")
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message == "volumes[0].ip: '224.0.0.1' cannot be a sending address (unspecified or multicast)"
