"""The pure rules of the IP inventory calls: an IP's hostname (``store.hostnames``) and an
account entry without blocked or removed IPs (``store.route_edits``)."""

from __future__ import annotations

from datetime import date

import pytest

from server import validate
from store.hostnames import normalize
from store.route_edits import without_addresses
from store.routing_entry import AccountRoute, DedicatedIP, ProviderRoute


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("mta1.example.com", "mta1.example.com"),
        ("MTA1.Example.COM.", "mta1.example.com"),  # case and the root's dot dropped
        ("a", "a"),
        ("x-1.y-2.example", "x-1.y-2.example"),
        ("a" * 63 + ".example", "a" * 63 + ".example"),
        (".".join(["a" * 61] * 4), ".".join(["a" * 61] * 4)),  # 247 characters
    ],
)
def test_hostnames_accepted(given: str, stored: str) -> None:
    assert normalize(given) == stored


@pytest.mark.parametrize(
    ("given", "rule"),
    [
        ("", "must not be empty"),
        (".", "must not be empty"),
        ("bad_name.example", "must be a DNS name"),
        ("-mta.example", "must be a DNS name"),
        ("mta-.example", "must be a DNS name"),
        ("mta..example", "must be a DNS name"),
        ("a" * 64 + ".example", "must be a DNS name"),
        ("mta example", "must be a DNS name"),
        ("mta.example\n", "must be a DNS name"),
        (".".join(["a" * 63] * 4), "at most 253 characters"),  # 255
    ],
)
def test_hostnames_refused_with_the_rule(given: str, rule: str) -> None:
    with pytest.raises(ValueError, match=rule):
        normalize(given)
    with pytest.raises(validate.RequestError, match=r"^hostnames\[2\]: "):
        validate.hostname(given, "hostnames[2]")


def _route(**providers: ProviderRoute) -> AccountRoute:
    return AccountRoute("acme", "us-east", "dedicated", date(2026, 3, 1), "dedicated:acme", providers)


def test_without_addresses_shares_the_weight_among_the_rest_and_keeps_limits() -> None:
    route = _route(
        google=ProviderRoute(
            1.0, (DedicatedIP("a", 0.5, 100), DedicatedIP("b", 0.25, None), DedicatedIP("c", 0.25, 7))
        ),
        yahoo=ProviderRoute(0.4, (DedicatedIP("a", 1.0, 50),)),
        other=ProviderRoute(0.5, (DedicatedIP("c", 1.0, None),)),
    )
    edited = without_addresses(route, {"a"})
    assert edited.providers["google"] == ProviderRoute(1.0, (DedicatedIP("b", 0.5, None), DedicatedIP("c", 0.5, 7)))
    # A provider left with no IP sends its mail to the general pool.
    assert edited.providers["yahoo"] == ProviderRoute(0.0, ())
    assert edited.providers["other"] is route.providers["other"]
    assert (edited.account_id, edited.pool_id, edited.management_type) == ("acme", "dedicated:acme", "dedicated")
    assert without_addresses(route, {"z"}) == route
