"""v1 and v2 on the same history: one scenario run under each ``warmup_rules``.

The two runs share everything but the rule set (the same volumes, noise and outcomes,
drawn from the same seeds), so the differences are the rules'. Per account: sending days
from the first day in Transition to Dedicated, the share of the mail carried over a pair's
limit or an IP's capacity (0 whenever the region has a general pool: rules 8 and 9
overflow instead) and the share the shared pool sent as overflow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from workers.simulate.scenario import Scenario
from workers.simulate.timeline import Result, Timeline, days_to_dedicated

Rules = Literal["v1", "v2"]
RULES: tuple[Rules, Rules] = ("v1", "v2")


def with_rules(scenario: Scenario, rules: Rules) -> Scenario:
    """The scenario with its policy's ``warmup_rules`` set to ``rules``."""
    return dataclasses.replace(scenario, policy=dataclasses.replace(scenario.policy, warmup_rules=rules))


@dataclass(frozen=True, slots=True)
class Side:
    """One account under one rule set."""

    #: Sending days in Transition before the first Dedicated day; ``None``: never Dedicated.
    to_dedicated: int | None
    volume: int
    over_limit: int
    overflow: int

    @property
    def over_limit_percent(self) -> float:
        return 100.0 * self.over_limit / self.volume if self.volume else 0.0

    @property
    def overflow_percent(self) -> float:
        return 100.0 * self.overflow / self.volume if self.volume else 0.0


@dataclass(frozen=True, slots=True)
class Row:
    account_id: str
    v1: Side
    v2: Side


def side(line: Timeline) -> Side:
    return Side(days_to_dedicated(line), sum(line.volume), sum(line.over_limit), sum(line.overflow))


def rows(v1: Result, v2: Result) -> list[Row]:
    """One row per account, in the scenario's order, and a last one, ``all``, for the totals."""
    out = [Row(a, side(v1.timelines[a]), side(v2.timelines[a])) for a in v1.timelines]
    out.append(Row("all", _total([r.v1 for r in out]), _total([r.v2 for r in out])))
    return out


def _total(sides: Sequence[Side]) -> Side:
    return Side(
        None,
        sum(s.volume for s in sides),
        sum(s.over_limit for s in sides),
        sum(s.overflow for s in sides),
    )


def table(compared: Sequence[Row], detail_limit: int = 20) -> list[str]:
    """The rows as aligned text: all accounts when there are at most ``detail_limit``,
    else the totals only."""
    header = ("account", "to Dedicated v1", "v2", "over limit v1", "v2", "overflow v1", "v2")
    shown = compared if len(compared) - 1 <= detail_limit else compared[-1:]
    cells = [header] + [
        (
            r.account_id,
            _days(r.v1.to_dedicated),
            _days(r.v2.to_dedicated),
            percent(r.v1.over_limit_percent),
            percent(r.v2.over_limit_percent),
            percent(r.v1.overflow_percent),
            percent(r.v2.overflow_percent),
        )
        for r in shown
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in cells
    ]


def _days(days: int | None) -> str:
    return "-" if days is None else str(days)


def percent(value: float) -> str:
    """``0 %``, or three significant digits: ``1.66 %``, ``0.0021 %``."""
    return "0 %" if value == 0 else f"{value:.3g} %"
