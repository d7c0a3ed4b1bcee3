"""Which days of history the system keeps, and so which days ImportHistory accepts.

The rebalancer decides from the ``history_window_days`` days before the day it decides for
and drops history older than the window plus ``MARGIN_DAYS`` (late imports, operators
looking back). A day older than that would be dropped by the next run; a day later than
tomorrow (UTC; a day of slack for senders east of Greenwich) has not happened. Both are
refused at the door (``server/management/history.py``), with the range in the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

#: Days of history kept beyond the policy's window.
MARGIN_DAYS = 7

#: Days after today (UTC) a history row may name.
FUTURE_SLACK_DAYS = 1


@dataclass(frozen=True, slots=True)
class DayRange:
    first: date
    last: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last

    def __str__(self) -> str:
        return f"{self.first} to {self.last} (UTC)"


def kept_from(today: date, window_days: int) -> date:
    """The oldest day of history the rebalancer keeps on ``today``."""
    return today - timedelta(days=window_days + MARGIN_DAYS)


def accepted_days(today: date, window_days: int) -> DayRange:
    """The days an imported history row may name on ``today``."""
    return DayRange(kept_from(today, window_days), today + timedelta(days=FUTURE_SLACK_DAYS))
