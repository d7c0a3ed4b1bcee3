"""The ``sendingip_<ip>`` transport names both ways, and the master.cf lines that define them."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.postfix import master_cf, transport_line
from server.adapters.postfix_names import ip_from_transport, transport_for

addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(
    # As the database stores them: an IPv4-mapped IPv6 address is its IPv4 address.
    lambda a: str(a.ipv4_mapped if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped else a)
)


@given(addresses)
def test_the_ip_read_back_from_a_transport_name_is_the_ip(ip: str) -> None:
    name = transport_for(ip)
    assert ip_from_transport(name) == ip
    # A master.cf service name and a syslog name: no '.', ':' or space in it.
    assert not set(name) & {".", ":", " ", "/"}


@pytest.mark.parametrize(
    ("ip", "name"),
    [
        ("192.0.2.1", "sendingip_192_0_2_1"),
        ("2001:db8::1", "sendingip_2001_db8__1"),
        ("::1", "sendingip___1"),
    ],
)
def test_names(ip: str, name: str) -> None:
    assert transport_for(ip) == name
    assert ip_from_transport(name) == ip


@pytest.mark.parametrize("name", ["smtp", "sendingip_", "sendingip_300_0_0_1", "sendingip_1_2_3", "relay_1_2_3_4"])
def test_other_names_are_no_ip(name: str) -> None:
    assert ip_from_transport(name) is None


def test_master_cf_lines_for_ipv4_and_ipv6() -> None:
    assert transport_line("192.0.2.1") == (
        "sendingip_192_0_2_1 unix - - n - - smtp -o smtp_bind_address=192.0.2.1"
        " -o syslog_name=postfix/sendingip_192_0_2_1"
    )
    assert transport_line("2001:db8::1") == (
        "sendingip_2001_db8__1 unix - - n - - smtp -o smtp_bind_address6=2001:db8::1"
        " -o syslog_name=postfix/sendingip_2001_db8__1"
    )
    assert transport_line("192.0.2.1", "mta1.example.com") == (
        "sendingip_192_0_2_1 unix - - n - - smtp -o smtp_bind_address=192.0.2.1"
        " -o smtp_helo_name=mta1.example.com -o syslog_name=postfix/sendingip_192_0_2_1"
    )


def test_master_cf_says_what_main_cf_needs() -> None:
    text = master_cf(
        [("192.0.2.1", "eu", ""), ("2001:db8::1", "eu", "mta6.example.com"), ("198.51.100.7", "us", "")],
        "127.0.0.1:10040",
    )
    lines = text.splitlines()
    # Every line Postfix reads (not a comment, not blank) is one transport, in order.
    assert [line.split()[0] for line in lines if line and not line.startswith("#")] == [
        "sendingip_192_0_2_1",
        "sendingip_2001_db8__1",
        "sendingip_198_51_100_7",
    ]
    helo = [line.split()[0] for line in lines if "-o smtp_helo_name=mta6.example.com " in line]
    assert helo == ["sendingip_2001_db8__1"]  # only the IP with a hostname (AddIPs) says one
    assert "#   smtpd_end_of_data_restrictions = check_policy_service inet:127.0.0.1:10040" in lines
    assert "#   smtp_bind_address_enforce = yes" in lines
    assert "#   default_filter_nexthop =" in lines
