"""The simulation chart: per account a panel with volume, dedicated share and IP count,
and under it a panel with each provider's stage and the day's marks; per region whose
shared pool gained an IP, a panel with each general IP's share of the pool's mail.

The background of an account's panels shows the management type (General white,
Transition amber, Dedicated green) so the story reads at a glance. The stage panel has one
line per provider (the lowest stage over the pool's IPs) and marks on it: the run held the
pair (rule 2, for yesterday's outcomes), stepped it back, the same-day breaker held it for
the rest of the day, or a throttle rested it (rule 11).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from store.labels import MANAGEMENT_TYPE_LABELS
from workers.simulate.timeline import GeneralTimeline, Timeline

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_SHADES = {"transition": "#fde9b8", "dedicated": "#cdebd3"}
_PROVIDER_COLOURS = {
    "google": "#4285f4",
    "microsoft": "#f25022",
    "yahoo": "#6001d2",
    "apple": "#555555",
    "other": "#2ca02c",
}
#: kind → (marker, colour, size, legend label, offset above the stage line in stages: a
#: breaker trip and the next day's hold for the same outcomes both stay visible).
_MARKS = {
    "hold": ("o", "#e67e22", 28, "held by the run (yesterday's outcomes)", 1.2),
    "step_back": ("v", "#c0392b", 40, "stepped back by the run", 1.2),
    "trip": ("X", "#111111", 44, "same-day breaker trip", 0.0),
    "throttle": ("|", "#8e44ad", 90, "throttle pause", 0.0),
}


def write_chart(
    path: Path,
    title: str,
    timelines: Sequence[Timeline],
    general: Sequence[GeneralTimeline] = (),
    warm: int = 30,
) -> None:
    """The PNG at ``path``: two panels per account of ``timelines``, one per region of
    ``general`` whose pool gained an IP; ``warm``: the stage axis' top (the warm stage)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    pools = [g for g in general if g.ramped]
    # A stage panel only under an account that had a pool: a General one has no stages.
    staged = [any(s is not None for stages in line.stages.values() for s in stages) for line in timelines]
    heights = [h for has in staged for h in ((2.4, 1.3) if has else (2.4,))] + [1.8] * len(pools)
    fig, axes = plt.subplots(
        len(heights),
        1,
        figsize=(11, sum(heights) + 0.3 * len(heights) + 1.2),
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    row = 0
    for line, has_stages in zip(timelines, staged, strict=True):
        ax = axes[row, 0]
        row += 1
        if has_stages:
            _stages(axes[row, 0], line, warm)
            row += 1
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
    for k, pool in enumerate(pools):
        _general(axes[row + k, 0], pool)
    bottom = axes[-1, 0]
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
    fig.autofmt_xdate()
    legend: list[Artist] = [
        Patch(color="#9db4d6", label="volume (left axis)"),
        Patch(color="#c0392b", label="dedicated share % (planned)"),
        Patch(color="#1b6e3a", label="dedicated IPs (dashed: draining)"),
        Patch(color=_SHADES["transition"], label=MANAGEMENT_TYPE_LABELS["transition"]),
        Patch(color=_SHADES["dedicated"], label=MANAGEMENT_TYPE_LABELS["dedicated"]),
    ]
    legend += [
        Line2D([], [], marker=marker, color=colour, linestyle="none", label=label)
        for marker, colour, _, label, _ in _MARKS.values()
    ]
    legend.append(Line2D([], [], color="#777777", label="stage per provider (lowest over the pool's IPs)"))
    _save(fig, title, legend, path)


def _stages(ax: Axes, line: Timeline, warm: int) -> None:
    """One step line per provider's stage, and the day's marks on the provider's line."""
    _shade(ax, line)
    days = [_num(d) for d in line.days]
    for provider, stages in line.stages.items():
        values = [float("nan") if s is None else float(s) for s in stages]
        colour = _PROVIDER_COLOURS.get(provider, "#777777")
        ax.step(days, values, where="mid", color=colour, linewidth=1.3, label=provider)
    for kind, (marker, colour, size, _, offset) in _MARKS.items():
        xs: list[float] = []
        ys: list[float] = []
        for index, mark, provider in line.marks:
            if mark != kind:
                continue
            stage = line.stages.get(provider, [None] * len(days))[index]
            xs.append(days[index])
            ys.append((float(stage) if stage is not None else 0.0) + offset)
        if xs:
            ax.scatter(xs, ys, marker=marker, color=colour, s=size, zorder=3, linewidths=1.5)
    highest = max((s for stages in line.stages.values() for s in stages if s is not None), default=0)
    ax.set_ylim(-1, min(warm, highest) + 3)  # the stages a scenario reaches, not always all 30
    ax.set_ylabel("stage")
    if line.stages:
        ax.legend(loc="upper left", fontsize=7, ncol=len(line.stages), frameon=False)


def _general(ax: Axes, pool: GeneralTimeline) -> None:
    """Each general IP's share of the shared pool's mail; an added IP's line starts the day it joined."""
    for address, shares in pool.share_percent.items():
        joined = pool.added[address]
        label = address + (f" (added day {joined})" if joined else "")
        ax.plot([_num(d) for d in pool.days], shares, linewidth=1.4, label=label)
    ax.set_ylim(0, 105)
    ax.set_ylabel("share of the\nshared pool %")
    ax.set_title(
        f"{pool.region}: general pool (rule 12: added IPs ramp in)", loc="left", fontsize=10, fontweight="bold"
    )
    ax.legend(loc="upper right", fontsize=7, frameon=False)


def _save(fig: Figure, title: str, legend: Sequence[Artist], path: Path) -> None:
    """Title and legend above the panels, then the PNG at ``path``."""
    import matplotlib.pyplot as plt

    top = 1 - 0.6 / fig.get_figheight()
    fig.suptitle(title, y=0.995, fontsize=11)
    fig.legend(
        handles=legend,
        loc="upper center",
        bbox_to_anchor=(0.5, top + 0.3 / fig.get_figheight()),
        ncol=5 if len(legend) <= 5 else 4,
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
