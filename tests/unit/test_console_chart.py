"""The console's warm-up chart and the series it is drawn from (pure)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from server.console import chart, history
from server.console.chart import ProviderSeries

TODAY = date(2026, 3, 31)


def test_every_day_of_the_window_is_present_and_only_providers_that_were_sent_mail_are_drawn() -> None:
    rows = [(TODAY - timedelta(days=1), "google", 40, 100), (TODAY - timedelta(days=90), "yahoo", 1, 1)]
    rows.append((TODAY, "microsoft", 0, 0))
    found = history.series(TODAY, rows, {"google": 500, "apple": 200}, ["google", "yahoo", "microsoft", "apple"])
    assert [s.provider for s in found] == ["google"]  # yahoo's day is outside the window
    google = found[0]
    assert len(google.days) == history.WINDOW_DAYS and google.days[-1] == TODAY
    assert google.total[-2:] == [100, 0] and google.dedicated[-2] == 40 and sum(google.total) == 100
    assert google.limit_today == 500
    assert google.last_share == (TODAY - timedelta(days=1), 40.0)


def test_the_chart_scales_to_the_largest_of_the_mail_and_the_limit_and_escapes_names() -> None:
    days = [TODAY - timedelta(days=2 - i) for i in range(3)]
    svg = chart.render(ProviderSeries("<g&o>", days, [0, 50, 100], [200, 200, 400], limit_today=900))
    assert "<g&o>" not in svg and "&lt;g&amp;o&gt;" in svg
    assert re.findall(r'class="axis" text-anchor="end">([^<]+)<', svg)[:3] == ["0", "500", "1k"]
    assert "warm-up limit today 900" in svg and "25% through dedicated IPs on 2026-03-31" in svg
    assert chart.nice_ceiling(2400) == 2500 and chart.nice_ceiling(0) == 1 and chart.compact(1_500_000) == "1.5M"
