"""Which days ImportHistory accepts: the history the rebalancer keeps, up to tomorrow."""

from __future__ import annotations

from datetime import date

import pytest

from sendingip.v1 import types_pb2
from server.management.errors import InvalidArgument
from server.management.history import parse_volumes
from store.history_range import MARGIN_DAYS, accepted_days, kept_from

TODAY = date(2026, 3, 10)
PROVIDERS = ("google", "other")


def _import(day: str, window_days: int = 30) -> None:
    row = types_pb2.DailyVolume(account_id="acme", day=day, mailbox_provider="google", count=1)
    parse_volumes([row], PROVIDERS, TODAY, window_days)


def test_the_range_is_the_window_plus_the_margin_up_to_tomorrow() -> None:
    accepted = accepted_days(TODAY, 30)
    assert (accepted.first, accepted.last) == (date(2026, 2, 1), date(2026, 3, 11))
    assert accepted.first == kept_from(TODAY, 30)  # the rebalancer drops what is older
    assert MARGIN_DAYS == 7
    assert str(accepted) == "2026-02-01 to 2026-03-11 (UTC)"


@pytest.mark.parametrize("day", ["2026-02-01", "2026-03-10", "2026-03-11"])
def test_the_edges_are_accepted(day: str) -> None:
    _import(day)


@pytest.mark.parametrize(
    ("day", "said"),
    [
        ("1970-01-01", "volumes[0].day 1970-01-01 is older than the history kept: days from 2026-02-01 to 2026-03-11"),
        ("2026-01-31", "volumes[0].day 2026-01-31 is older than the history kept"),
        ("2026-03-12", "volumes[0].day 2026-03-12 is in the future: days from 2026-02-01 to 2026-03-11"),
        ("2099-12-31", "volumes[0].day 2099-12-31 is in the future"),
    ],
)
def test_days_outside_are_refused_with_the_range(day: str, said: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        _import(day)
    assert str(refused.value).startswith(said)
    assert "history_window_days 30 + 7 days back, up to tomorrow" in str(refused.value)


def test_a_longer_window_accepts_older_days() -> None:
    _import("2025-03-10", window_days=365)
    with pytest.raises(InvalidArgument, match="older than the history kept: days from 2025-03-03"):
        _import("2025-03-02", window_days=365)
