"""The warm-up chart of one (account, mailbox provider), drawn as inline SVG. Pure.

Why SVG written here and not a chart library: the console must need no download at run
time and no front-end build, and the chart is three series on one axis. The server draws
it into the page, so it shows with scripts off and screenshots the same everywhere.

What it shows, per day of the window: the messages the account sent to this provider
through IPs of its dedicated pool (filled, dark) and through the shared pool (stacked on
top, light), so the dedicated share over time is the dark part's height against the
whole; and today's warm-up limit over the dedicated IPs that are still warming (dashed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

WIDTH, HEIGHT = 560, 190
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 26, 24


@dataclass(frozen=True, slots=True)
class ProviderSeries:
    provider: str
    days: Sequence[date]
    #: Messages per day through the account's dedicated IPs, one per day in ``days``.
    dedicated: Sequence[int]
    #: Messages per day in all, one per day in ``days``.
    total: Sequence[int]
    #: Today's warm-up limit summed over the dedicated IPs still warming; ``None`` when none is.
    limit_today: int | None = None

    @property
    def last_share(self) -> tuple[date, float] | None:
        """The last day with mail in the window, and the percent of it sent through dedicated IPs."""
        for i in range(len(self.total) - 1, -1, -1):
            if self.total[i]:
                return self.days[i], 100.0 * self.dedicated[i] / self.total[i]
        return None


def nice_ceiling(value: float) -> int:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above ``value`` (an axis maximum that reads well)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return int(step * power)
    return int(10 * power)


def compact(value: int) -> str:
    """``1.2M``, ``250k``, ``900``: an axis label."""
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if value >= size:
            text = f"{value / size:.1f}".removesuffix(".0")
            return f"{text}{suffix}"
    return str(value)


def render(series: ProviderSeries) -> str:
    """The SVG element (markup, already escaped) for one provider."""
    n = len(series.days)
    top = nice_ceiling(max([*series.total, series.limit_today or 0, 1]))
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM

    def x(i: int) -> float:
        return _LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return _TOP + plot_h * (1 - v / top)

    base = f"{x(n - 1):.1f},{y(0):.1f} {x(0):.1f},{y(0):.1f}"
    dedicated = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(series.dedicated))
    total = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(series.total))
    last = series.last_share
    title = series.provider + ("" if last is None else f": {last[1]:.0f}% through dedicated IPs on {last[0]}")
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" data-provider="{escape(series.provider)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{_LEFT}" y="16" class="chart-title">{escape(title)}</text>',
    ]
    for fraction in (0, 0.5, 1):
        v = top * fraction
        parts.append(f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>')
        parts.append(
            f'<text x="{_LEFT - 6}" y="{y(v) + 4:.1f}" class="axis" text-anchor="end">{compact(int(v))}</text>'
        )
    if n:
        parts.append(f'<polygon points="{total} {base}" class="shared"><title>shared pool</title></polygon>')
        parts.append(f'<polygon points="{dedicated} {base}" class="dedicated"><title>dedicated IPs</title></polygon>')
        for i, anchor in ((0, "start"), (n // 2, "middle"), (n - 1, "end")):
            label = series.days[i].isoformat()
            parts.append(f'<text x="{x(i):.1f}" y="{HEIGHT - 6}" class="axis" text-anchor="{anchor}">{label}</text>')
    if series.limit_today:
        ly = y(series.limit_today)
        parts.append(f'<line x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{ly:.1f}" y2="{ly:.1f}" class="limit"/>')
        parts.append(
            f'<text x="{WIDTH - _RIGHT}" y="{ly - 4:.1f}" class="limit-label" text-anchor="end">'
            f"warm-up limit today {compact(series.limit_today)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
