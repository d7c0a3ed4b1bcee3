"""The doors' settings: defaults, overrides, and a clear error for each malformed one."""

from __future__ import annotations

import ipaddress

import pytest

from server.adapters.config import AdapterConfig, is_loopback, split_listen
from server.config import ServerConfig
from store.config import ConfigError


def test_http_is_on_by_default_and_the_mta_doors_off() -> None:
    config = ServerConfig.from_env({}).adapters
    assert config.http_listen == "127.0.0.1:8080"
    assert config.postfix_listen == "" and config.line_listen == ""
    assert config.postfix_account == "sasl_username"


def test_overrides() -> None:
    config = AdapterConfig.from_env(
        {
            "SENDINGIP_HTTP_LISTEN": "off",
            "SENDINGIP_POSTFIX_LISTEN": "127.0.0.1:10040",
            "SENDINGIP_LINE_LISTEN": "[::1]:0",
            "SENDINGIP_ADAPTER_KEY": "sip_a_b",
            "SENDINGIP_POSTFIX_ACCOUNT": "sender_domain",
            "SENDINGIP_ADAPTER_ALLOW": "10.1.0.0/16, 2001:db8::/32",
            "SENDINGIP_ADAPTER_MAX_CONNECTIONS": "10",
        }
    )
    assert config.http_listen == ""
    assert config.line_listen == "[::1]:0"
    assert config.allow == (ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("2001:db8::/32"))
    assert config.max_connections == 10


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SENDINGIP_POSTFIX_ACCOUNT": "From"}, "SENDINGIP_POSTFIX_ACCOUNT='From': expected one of sasl_username"),
        ({"SENDINGIP_LINE_LISTEN": "10040"}, "'10040': expected HOST:PORT"),
        ({"SENDINGIP_POSTFIX_LISTEN": "127.0.0.1:10040"}, "need SENDINGIP_ADAPTER_KEY"),
        ({"SENDINGIP_ADAPTER_ALLOW": "10.1.0.0/40"}, "SENDINGIP_ADAPTER_ALLOW: '10.1.0.0/40' is not an IP network"),
        ({"SENDINGIP_ADAPTER_IDLE_TIMEOUT": "0"}, "must be more than 0"),
    ],
)
def test_a_malformed_door_setting_is_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AdapterConfig.from_env(env)


def test_listen_addresses() -> None:
    assert split_listen("[::1]:25") == ("::1", 25)
    assert split_listen("0.0.0.0:8080") == ("0.0.0.0", 8080)
    for bad in ("", ":80", "host:", "host:http", "host:70000"):
        with pytest.raises(ConfigError):
            split_listen(bad)
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("mail.example")
