"""The simulation chart: one panel per account with volume, dedicated share and IP count.

The background of a panel shows the management type (General white, Transition amber,
Dedicated green) so the story reads at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from store.labels import MANAGEMENT_TYPE_LABELS
from workers.simulate.timeline import Timeline

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_SHADES = {"transition": "#fde9b8", "dedicated": "#cdebd3"}


def write_chart(path: Path, title: str, timelines: Sequence[Timeline]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    n = len(timelines)
    fig, axes = plt.subplots(n, 1, figsize=(11, 2.7 * n + 0.9), sharex=True, squeeze=False)
    for ax, line in zip(axes[:, 0], timelines, strict=True):
        days = line.days
        _shade(ax, line)
        ax.fill_between(days, line.volume, step="mid", color="#9db4d6", alpha=0.75, linewidth=0)
        ax.set_ylabel("messages / day")
        ax.set_ylim(bottom=0)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
        ax.set_title(line.account_id, loc="left", fontsize=10, fontweight="bold")
        share_ax = ax.twinx()
        share_ax.plot(days, line.dedicated_share_percent, color="#c0392b", linewidth=1.6)
        share_ax.set_ylim(0, 105)
        share_ax.set_ylabel("dedicated share %", color="#c0392b")
        ip_ax = ax.twinx()
        ip_ax.spines["right"].set_position(("axes", 1.07))
        ip_ax.step(days, line.ip_count, where="mid", color="#1b6e3a", linewidth=1.6)
        if any(line.draining_count):
            ip_ax.step(days, line.draining_count, where="mid", color="#7f7f7f", linewidth=1.0, linestyle="--")
        ip_ax.set_ylim(0, max(3, max(line.ip_count) + max(line.draining_count) + 1))
        ip_ax.yaxis.get_major_locator().set_params(integer=True)
        ip_ax.set_ylabel("dedicated IPs", color="#1b6e3a")
    bottom = axes[-1, 0]
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
    fig.autofmt_xdate()
    legend = [
        Patch(color="#9db4d6", label="volume (left axis)"),
        Patch(color="#c0392b", label="dedicated share % (planned)"),
        Patch(color="#1b6e3a", label="dedicated IPs (dashed: draining)"),
        Patch(color=_SHADES["transition"], label=MANAGEMENT_TYPE_LABELS["transition"]),
        Patch(color=_SHADES["dedicated"], label=MANAGEMENT_TYPE_LABELS["dedicated"]),
    ]
    _save(fig, title, legend, path)


def _save(fig: Figure, title: str, legend: Sequence[Artist], path: Path) -> None:
    """Title and legend above the panels, then the PNG at ``path``."""
    import matplotlib.pyplot as plt

    top = 1 - 0.6 / fig.get_figheight()
    fig.suptitle(title, y=0.995, fontsize=11)
    fig.legend(
        handles=legend,
        loc="upper center",
        bbox_to_anchor=(0.5, top + 0.3 / fig.get_figheight()),
        ncol=5,
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0, 1, top))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _shade(ax: Axes, line: Timeline) -> None:
    """Colour the spans of Transition and Dedicated days."""
    start = 0
    types = line.management
    for i in range(1, len(types) + 1):
        if i == len(types) or types[i] != types[start]:
            colour = _SHADES.get(types[start])
            if colour:
                ax.axvspan(_num(line.days[start]) - 0.5, _num(line.days[i - 1]) + 0.5, color=colour, linewidth=0)
            start = i


def _num(day: date) -> float:
    import matplotlib.dates as mdates

    return float(mdates.date2num(day))  # type: ignore[no-untyped-call]


def write_compare_chart(path: Path, title: str, pairs: Sequence[tuple[Timeline, Timeline]]) -> None:
    """One panel per account: its volume and, per day, the share of its mail its dedicated
    IPs sent under v1 (dashed) and v2 (solid), with a vertical line where each went Dedicated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    n = len(pairs)
    fig, axes = plt.subplots(n, 1, figsize=(11, 2.4 * n + 0.9), sharex=True, squeeze=False)
    for ax, (v1, v2) in zip(axes[:, 0], pairs, strict=True):
        ax.fill_between(v2.days, v2.volume, step="mid", color="#d5e0ef", linewidth=0)
        ax.set_ylabel("messages / day")
        ax.set_ylim(bottom=0)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
        ax.set_title(v2.account_id, loc="left", fontsize=10, fontweight="bold")
        share_ax = ax.twinx()
        for line, style, colour in ((v2, "-", "#c0392b"), (v1, "--", "#2c3e50")):  # v1 drawn over v2
            share_ax.plot(line.days, sent_share(line), color=colour, linewidth=1.5, linestyle=style)
            start = line.first("transition")
            went = line.first("dedicated", start) if start is not None else None
            if went is not None:
                share_ax.axvline(_num(line.days[went]), color="#1b6e3a", linewidth=1.0, linestyle=style)
        share_ax.set_ylim(0, 105)
        share_ax.set_ylabel("sent by dedicated IPs %", color="#c0392b")
    bottom = axes[-1, 0]
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
    fig.autofmt_xdate()
    legend = [
        Patch(color="#d5e0ef", label="volume (left axis)"),
        Line2D([], [], color="#2c3e50", linestyle="--", label="v1: dedicated share of the day's mail"),
        Line2D([], [], color="#c0392b", label="v2: dedicated share of the day's mail"),
        Line2D([], [], color="#1b6e3a", linestyle="--", label="v1 Dedicated from"),
        Line2D([], [], color="#1b6e3a", label="v2 Dedicated from"),
    ]
    _save(fig, title, legend, path)


def sent_share(line: Timeline) -> list[float]:
    """Per day, the percentage of the mail its dedicated IPs sent (NaN on days without mail)."""
    return [100.0 * d / v if v else float("nan") for d, v in zip(line.dedicated_sent, line.volume, strict=True)]
