"""Settings of the doors MTAs and scripts use besides gRPC (SPEC §4, §5), from the environment."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from store.config import ConfigError, env_int, env_seconds

#: What SENDINGIP_POSTFIX_ACCOUNT may say: which policy attribute names the account.
POSTFIX_ACCOUNT_MODES = ("sasl_username", "sender", "sender_domain")
_OFF = ("", "0", "off")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class AdapterConfig:
    #: ``SENDINGIP_HTTP_LISTEN``: host:port of the HTTP/JSON door (``0`` or ``off`` turns it
    #: off; port 0 picks a free one, logged as ``http listen=``).
    http_listen: str = "127.0.0.1:8080"
    #: ``SENDINGIP_POSTFIX_LISTEN``: host:port of the Postfix policy door; off unless set.
    postfix_listen: str = ""
    #: ``SENDINGIP_LINE_LISTEN``: host:port of the line-protocol door (Exim); off unless set.
    line_listen: str = ""
    #: ``SENDINGIP_ADAPTER_KEY``: the API key whose permissions and account scope the
    #: Postfix and line doors act with (those protocols carry no key of their own).
    adapter_key: str = ""
    #: ``SENDINGIP_POSTFIX_ACCOUNT``: the policy attribute that names the account:
    #: ``sasl_username`` (default), ``sender`` (the whole address) or ``sender_domain``.
    postfix_account: str = "sasl_username"
    #: ``SENDINGIP_ADAPTER_ALLOW``: comma-separated networks (``10.1.0.0/16,2001:db8::/32``)
    #: whose clients the Postfix and line doors accept. They speak no TLS, so a
    #: non-loopback listen address needs this list; without it only loopback clients.
    allow: tuple[Network, ...] = ()
    #: ``SENDINGIP_ADAPTER_MAX_CONNECTIONS``: most open connections per door; one more
    #: closes the connection that has been quiet the longest (logged).
    max_connections: int = 1024
    #: ``SENDINGIP_ADAPTER_IDLE_TIMEOUT``: seconds a connection may sit with no request
    #: before it is closed (Postfix's own policy client gives up after 300 s idle).
    idle_timeout: float = 600.0
    #: ``SENDINGIP_ADAPTER_REQUEST_TIMEOUT``: seconds a request, once begun, may take to
    #: arrive whole (a slow sender holds a connection no longer than this).
    request_timeout: float = 10.0
    #: ``SENDINGIP_HTTP_MAX_BODY_BYTES``: the largest HTTP request body (413 above it).
    max_body_bytes: int = 4 * 1024 * 1024
    #: ``SENDINGIP_ADAPTER_MAX_BUFFERED_BYTES``: most bytes of requests still arriving that
    #: a door holds, all its connections together; beyond, the connections whose requests
    #: began first are closed (at least ``SENDINGIP_HTTP_MAX_BODY_BYTES``).
    max_buffered_bytes: int = 32 * 1024 * 1024
    #: Bind with SO_REUSEPORT, for the members of one cluster only (``serve --processes N``,
    #: ``server/cluster_ports.py``); no environment variable, as ``ServerConfig.share_port``.
    share_port: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AdapterConfig:
        http = env.get("SENDINGIP_HTTP_LISTEN")
        account = env.get("SENDINGIP_POSTFIX_ACCOUNT") or cls.postfix_account
        if account not in POSTFIX_ACCOUNT_MODES:
            raise ConfigError(
                f"SENDINGIP_POSTFIX_ACCOUNT={account!r}: expected one of {', '.join(POSTFIX_ACCOUNT_MODES)}"
            )
        config = cls(
            http_listen=cls.http_listen if http is None else ("" if http in _OFF else http),
            postfix_listen=_listen(env, "SENDINGIP_POSTFIX_LISTEN"),
            line_listen=_listen(env, "SENDINGIP_LINE_LISTEN"),
            adapter_key=env.get("SENDINGIP_ADAPTER_KEY") or "",
            postfix_account=account,
            allow=_networks(env.get("SENDINGIP_ADAPTER_ALLOW") or ""),
            max_connections=env_int(env, "SENDINGIP_ADAPTER_MAX_CONNECTIONS", cls.max_connections, minimum=1),
            idle_timeout=env_seconds(env, "SENDINGIP_ADAPTER_IDLE_TIMEOUT", cls.idle_timeout),
            request_timeout=env_seconds(env, "SENDINGIP_ADAPTER_REQUEST_TIMEOUT", cls.request_timeout),
            max_body_bytes=env_int(env, "SENDINGIP_HTTP_MAX_BODY_BYTES", cls.max_body_bytes, minimum=1024),
            max_buffered_bytes=env_int(
                env, "SENDINGIP_ADAPTER_MAX_BUFFERED_BYTES", cls.max_buffered_bytes, minimum=1024
            ),
        )
        if config.max_buffered_bytes < config.max_body_bytes:
            raise ConfigError(
                f"SENDINGIP_ADAPTER_MAX_BUFFERED_BYTES={config.max_buffered_bytes} is below "
                f"SENDINGIP_HTTP_MAX_BODY_BYTES={config.max_body_bytes}: a request of the largest size could never arrive"
            )
        if (config.postfix_listen or config.line_listen) and not config.adapter_key:
            raise ConfigError(
                "SENDINGIP_POSTFIX_LISTEN / SENDINGIP_LINE_LISTEN need SENDINGIP_ADAPTER_KEY: the key (with the "
                "'route' permission) those doors act with; make one with `sendingip keys create --permissions route`"
            )
        return config


def split_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` as (host, port); a clear ``ConfigError`` otherwise."""
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{listen!r}: expected HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listen(env: Mapping[str, str], name: str) -> str:
    raw = env.get(name) or ""
    if raw in _OFF:
        return ""
    split_listen(raw)
    return raw


def _networks(raw: str) -> tuple[Network, ...]:
    out = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"SENDINGIP_ADAPTER_ALLOW: {item!r} is not an IP network (e.g. 10.1.0.0/16)") from None
    return tuple(out)
