"""Addresses as the `sendingip ips` commands take them: single addresses, CIDR ranges, or
``-`` for stdin, one a line (``#`` comments skipped)."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Iterable, Iterator

from cli import client

#: A CIDR range given on the command line expands to at most this many addresses.
MAX_RANGE = 65_536


def expand(items: Iterable[str]) -> Iterator[str]:
    """Addresses as given; a CIDR range as its addresses; ``-`` as stdin's lines."""
    for item in items:
        if item == "-":
            yield from expand(line.strip() for line in sys.stdin if line.strip() and not line.startswith("#"))
        elif "/" in item:
            try:
                network = ipaddress.ip_network(item, strict=True)
            except ValueError as exc:
                raise client.UsageError(f"{item!r} is not an address range: {exc}") from None
            if network.num_addresses > MAX_RANGE:
                raise client.UsageError(f"{item}: at most {MAX_RANGE} addresses per range")
            # Its usable hosts: a /24 gives .1-.254 (network and broadcast are no sending IPs).
            yield from (str(a) for a in network.hosts())
        else:
            yield item  # the server validates single addresses, naming a bad one
