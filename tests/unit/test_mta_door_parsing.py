"""What the line and Postfix policy doors read out of a request, without sockets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.adapters.line import LineRequest, parse
from server.adapters.postfix import MAX_ATTRIBUTES, attribute, malformed


def test_a_select_line_is_a_request() -> None:
    assert parse(b"SELECT acme <1@x> gmail.com") == LineRequest("acme", "<1@x>", "gmail.com", "", "", False)
    assert parse(b"RESELECT acme m1 gmail.com eu-west\r") == LineRequest("acme", "m1", "gmail.com", "", "eu-west", True)
    assert parse(b"select  acme\tm1 gmail.com") == LineRequest("acme", "m1", "gmail.com", "", "", False)


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        (b"", b"ERR INVALID_ARGUMENT empty line; expected SELECT|RESELECT"),
        (b"  \r", b"ERR INVALID_ARGUMENT empty line"),
        (b"PICK a b c", b"ERR INVALID_ARGUMENT unknown command 'PICK'; expected SELECT|RESELECT"),
        (b"X" * 100, b"ERR INVALID_ARGUMENT unknown command '" + b"X" * 32 + b"...'"),
        (b"SELECT a b", b"ERR INVALID_ARGUMENT SELECT takes 3 or 4 fields, got 2"),
        (b"reselect a b c d e", b"ERR INVALID_ARGUMENT RESELECT takes 3 or 4 fields, got 5"),
        (b"SELECT \xc3\x28 b c", b"ERR INVALID_ARGUMENT the line is not UTF-8"),
    ],
)
def test_a_bad_line_is_its_err_answer(line: bytes, answer: bytes) -> None:
    got = parse(line)
    assert isinstance(got, bytes)
    assert got.startswith(answer) and got.endswith(b"\n") and got.count(b"\n") == 1


@given(st.binary(max_size=300))
def test_any_bytes_are_a_request_or_one_err_line(line: bytes) -> None:
    got = parse(line)
    if isinstance(got, bytes):
        assert got.startswith(b"ERR INVALID_ARGUMENT ") and got.count(b"\n") == 1 and got.endswith(b"\n")
    else:
        assert got.account_id and got.message_id and got.recipient_domain


REQUEST = b"request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\nqueue_id=4BxQ\nsender=a@b.example\nrecipient="


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b"request", b"smtpd_access_policy"),
        (b"protocol_state", b"END-OF-MESSAGE"),
        (b"queue_id", b"4BxQ"),
        (b"recipient", b""),
        (b"sasl_username", None),
        (b"sender", b"a@b.example"),
        (b"state", None),  # a suffix of another attribute's name is not that attribute
    ],
)
def test_attribute_finds_a_whole_name(name: bytes, value: bytes | None) -> None:
    assert attribute(REQUEST, b"\n" + name + b"=") == value


names = st.from_regex(r"[a-z_]{1,20}", fullmatch=True)
values = st.binary(max_size=40).filter(lambda v: b"\n" not in v)


@given(st.dictionaries(names, values, min_size=1, max_size=30))
def test_attribute_reads_back_every_value(attrs: dict[str, bytes]) -> None:
    request = b"\n".join(name.encode() + b"=" + value for name, value in attrs.items())
    assert malformed(request) == ""
    for name, value in attrs.items():
        assert attribute(request, b"\n" + name.encode() + b"=") == value


def test_malformed_names_the_problem() -> None:
    assert malformed(REQUEST) == ""
    assert malformed(b"a=1\nnonsense\nb=2") == "a line without '=': 'nonsense'"
    assert malformed(b"a=1\n\xff\xfe") == "a line without '=': '\\\\xff\\\\xfe'"
    many = b"\n".join(b"x=1" for _ in range(MAX_ATTRIBUTES + 1))
    assert malformed(many) == f"a request of over {MAX_ATTRIBUTES} attributes ({MAX_ATTRIBUTES + 1})"
    assert malformed(b"\n".join(b"x=1" for _ in range(MAX_ATTRIBUTES))) == ""


@given(st.lists(st.sampled_from([b"a=1", b"b==2", b"=", b"x", b"", b"c=d=e", b"zz"]), min_size=1, max_size=12))
def test_malformed_agrees_with_a_line_by_line_check(lines: list[bytes]) -> None:
    request = b"\n".join(lines)
    assert (malformed(request) != "") == any(b"=" not in line for line in request.split(b"\n"))
