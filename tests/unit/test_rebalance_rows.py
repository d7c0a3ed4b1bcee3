"""The window's rows as the policy's ``DayHistory`` (workers/rebalance/rows.py), built without
the dataclass's ``__init__``: the same objects as the constructor makes."""

from __future__ import annotations

from datetime import date, timedelta

from store.reputation import Outcomes
from workers.policy import DayHistory, PairDay
from workers.rebalance import rows

CALENDAR = [date(2026, 5, 1) + timedelta(days=i) for i in range(5)]


def test_the_window_decoded_equals_the_days_built_by_the_constructor() -> None:
    found = Outcomes(90, 5, 3, 1, 1)
    outcomes = {("acme", CALENDAR[3], "198.51.100.1", "google"): found}
    window = rows.window(
        "acme",
        days=[0, 0, 0, 3, 3, 4],
        providers=["google", "yahoo", "google", "google", "google", "other"],
        ips=["", "", "192.0.2.1", "198.51.100.1", "", ""],
        sent=[10, 20, 5, 100, 7, 0],
        outcomes=outcomes,
        calendar=CALENDAR,
    )
    assert window == [
        DayHistory(CALENDAR[0], {"google": 15, "yahoo": 20}, {("192.0.2.1", "google"): PairDay(5)}),
        DayHistory(CALENDAR[3], {"google": 107}, {("198.51.100.1", "google"): PairDay(100, found)}),
        DayHistory(CALENDAR[4], {"other": 0}),
    ]
    assert [h.total for h in window] == [35, 107, 0]
    assert type(window[0]) is DayHistory
    assert window[2].pairs == {} and window[2].pairs is not window[1].pairs
