"""Running a scenario: the day loop, each account's timeline, the CSV rows and a summary.

Besides the figures, a timeline carries what the chart marks, per day: the pairs the day's
run held or stepped back for yesterday's outcomes (rule 2's reputation verdicts, from the
decision's events), the pairs the same-day breaker held and the throttles that rested
pairs (rule 11, from the simulated sending), and each provider's stage (the lowest over the
pool's IPs that may carry traffic). Each region's shared pool has its own timeline: every
general IP's stage and share of the pool's mail (rule 12).
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TextIO

from store.labels import IP_STATUS_LABELS, MANAGEMENT_TYPE_LABELS
from store.routing_entry import ManagementType
from workers.policy import Policy, longest_warm_stage
from workers.simulate.general import GeneralPool
from workers.simulate.scenario import Scenario
from workers.simulate.world import DayResult, World

#: The kinds of marks on a day: a hold or step-back by the run (rule 2), a same-day
#: breaker trip or a throttle pause (rule 11).
MARKS = ("hold", "step_back", "trip", "throttle")


@dataclass(slots=True)
class Timeline:
    """One account's days, for the chart, the summary and the tests."""

    account_id: str
    days: list[date] = field(default_factory=list)
    volume: list[int] = field(default_factory=list)
    #: Mail sent through the dedicated pool, to the shared pool as overflow (rules 8 and 9),
    #: and past a limit or capacity (only with no general pool to overflow to).
    dedicated_sent: list[int] = field(default_factory=list)
    overflow: list[int] = field(default_factory=list)
    over_limit: list[int] = field(default_factory=list)
    management: list[ManagementType] = field(default_factory=list)
    dedicated_share_percent: list[float] = field(default_factory=list)
    #: IPs that may carry traffic (In Progress or Active).
    ip_count: list[int] = field(default_factory=list)
    draining_count: list[int] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    events: list[tuple[int, str]] = field(default_factory=list)
    #: Per provider the account sends to, per day: the lowest stage over the pool's IPs that
    #: may carry traffic (``None`` on days without such an IP).
    stages: dict[str, list[int | None]] = field(default_factory=dict)
    #: (day index, kind in ``MARKS``, provider) for every pair held, stepped back, tripped
    #: or throttled that day.
    marks: list[tuple[int, str, str]] = field(default_factory=list)

    def count(self, kind: str, index: int) -> int:
        """Pairs marked ``kind`` on day ``index``."""
        return sum(1 for i, k, _ in self.marks if i == index and k == kind)

    def first(self, management: str, after: int = 0) -> int | None:
        """Index of the first day at or after ``after`` with that management type."""
        for i in range(after, len(self.management)):
            if self.management[i] == management:
                return i
        return None

    def sending_days(self, start: int, end: int) -> int:
        """Days with sending in ``start .. end - 1``."""
        return sum(1 for v in self.volume[start:end] if v > 0)


@dataclass(slots=True)
class GeneralTimeline:
    """A region's shared pool, per day: the mail it carried and each IP's stage (``None``:
    warm, or not in the pool yet) and share of that mail (NaN before the IP was added)."""

    region: str
    days: list[date] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    stages: dict[str, list[int | None]] = field(default_factory=dict)
    share_percent: dict[str, list[float]] = field(default_factory=dict)
    #: The day index each IP joined the pool (0 for the scenario's own general IPs).
    added: dict[str, int] = field(default_factory=dict)

    @property
    def ramped(self) -> bool:
        """Whether an IP joined the pool during the scenario (the chart then draws the pool)."""
        return any(self.added.values())

    def record(self, day: date, pool: GeneralPool, sent: int) -> None:
        index = len(self.days)
        self.days.append(day)
        self.sent.append(sent)
        total = sum(pool.carried)
        for address, stage, carried in zip(pool.addresses, pool.stages, pool.carried, strict=True):
            if address not in self.added:
                self.added[address] = index
                self.stages[address] = [None] * index
                self.share_percent[address] = [float("nan")] * index
            self.stages[address].append(stage)
            self.share_percent[address].append(100.0 * carried / total if total else 0.0)


@dataclass(slots=True)
class Result:
    scenario: Scenario
    timelines: dict[str, Timeline]
    world: World
    seconds: float
    general: dict[str, GeneralTimeline] = field(default_factory=dict)


def csv_header(policy: Policy) -> list[str]:
    return [
        "day",
        "account_id",
        "region",
        "volume",
        "dedicated_sent",
        "overflow",
        "over_limit",
        "holds",
        "step_backs",
        "breaker_trips",
        "throttle_pauses",
        "management_type",
        "dedicated_share_percent",
        *(f"share_{p}_percent" for p in policy.mailbox_providers),
        "volume_30d",
        "active_days_30d",
        "required_ips",
        "ip_count",
        "ips",
        "reason",
    ]


def csv_row(policy: Policy, result: DayResult) -> list[object]:
    decision = result.decision
    figures = decision.figures
    route = decision.route
    shares = []
    for provider in policy.mailbox_providers:
        provider_route = route.providers.get(provider)
        shares.append(f"{100.0 * provider_route.dedicated_share:.1f}" if provider_route else "0.0")
    warm = longest_warm_stage(policy)
    ips = "; ".join(f"{ip.address} {IP_STATUS_LABELS[ip.status]} {ip.min_stage}/{warm}" for ip in figures.ips)
    return [
        result.day.isoformat(),
        result.account.spec.account_id,
        result.account.spec.region,
        result.sent.volume,
        result.sent.dedicated,
        result.sent.overflow,
        result.sent.over_limit,
        sum(1 for e in decision.events if e.verdict == "hold"),
        sum(1 for e in decision.events if e.verdict == "step_back"),
        len(result.sent.trips),
        len(result.sent.throttles),
        MANAGEMENT_TYPE_LABELS[decision.account.management_type],
        f"{figures.dedicated_share_percent:.1f}",
        *shares,
        figures.volume_30d,
        figures.active_days_30d,
        figures.required_ips,
        figures.dedicated_ip_count,
        ips,
        decision.reason,
    ]


def _record(line: Timeline, result: DayResult) -> None:
    """Append one day of the account to its timeline."""
    decision = result.decision
    line.days.append(result.day)
    line.volume.append(result.sent.volume)
    line.dedicated_sent.append(result.sent.dedicated)
    line.overflow.append(result.sent.overflow)
    line.over_limit.append(result.sent.over_limit)
    line.management.append(decision.account.management_type)
    line.dedicated_share_percent.append(decision.figures.dedicated_share_percent)
    line.ip_count.append(decision.figures.dedicated_ip_count)
    line.draining_count.append(len(decision.account.ips) - decision.figures.dedicated_ip_count)
    line.reasons.append(decision.reason)
    lowest: dict[str, int] = {}
    if decision.pairs:
        live = {ip.address for ip in decision.account.ips if not ip.draining}
        for pair in decision.pairs:
            if pair.address in live and pair.stage < lowest.get(pair.provider, pair.stage + 1):
                lowest[pair.provider] = pair.stage
    for provider in result.account.spec.providers_ever:
        line.stages.setdefault(provider, []).append(lowest.get(provider))
    i = result.index
    if decision.events:
        line.marks.extend((i, "hold" if e.verdict == "hold" else "step_back", e.provider) for e in decision.events)
    if result.sent.trips:
        line.marks.extend((i, "trip", provider) for (_, provider), _ in result.sent.trips)
    if result.sent.throttles:
        line.marks.extend((i, "throttle", provider) for provider, _, _ in result.sent.throttles)


def run(
    scenario: Scenario,
    csv_out: TextIO | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Simulate the scenario; write one CSV row per account and day to ``csv_out``."""
    started = time.perf_counter()
    world = World(scenario)
    policy = scenario.policy
    writer = None
    if csv_out is not None:
        writer = csv.writer(csv_out, lineterminator="\n")
        writer.writerow(csv_header(policy))
    timelines = {sim.spec.account_id: Timeline(sim.spec.account_id, events=sim.events) for sim in world.accounts}
    general = {region: GeneralTimeline(region) for region in world.general}
    for index in range(scenario.days):
        for result in world.step(index):
            _record(timelines[result.account.spec.account_id], result)
            if writer is not None:
                writer.writerow(csv_row(policy, result))
        for region, pool in world.general.items():
            general[region].record(scenario.day(index), pool, world.general_sent[region])
        if progress is not None:
            progress(index + 1, scenario.days)
    return Result(scenario, timelines, world, time.perf_counter() - started, general)


def stderr_progress(total_days: int) -> Callable[[int, int], None]:
    """Report about every 10% of the days, with the elapsed time."""
    started = time.perf_counter()
    step = max(1, total_days // 10)

    def report(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            elapsed = time.perf_counter() - started
            print(f"simulate: day {done}/{total} ({100 * done // total}%), {elapsed:.1f} s", file=sys.stderr)

    return report


def summary(result: Result, detail_limit: int = 12) -> list[str]:
    """A few lines for people: per account when there are few, else totals."""
    scenario = result.scenario
    lines = [
        f"scenario {scenario.name}: {len(scenario.accounts)} accounts x {scenario.days} days "
        f"from {scenario.start.isoformat()} in {result.seconds:.2f} s"
    ]
    timelines = list(result.timelines.values())
    if len(timelines) <= detail_limit:
        for line in timelines:
            lines.append("  " + account_story(line))
    final: dict[ManagementType, int] = {"general": 0, "transition": 0, "dedicated": 0}
    for line in timelines:
        final[line.management[-1]] += 1
    to_dedicated = [d for d in (days_to_dedicated(line) for line in timelines) if d is not None]
    world = result.world
    lines.append(
        "  at the end: "
        + ", ".join(f"{n} {MANAGEMENT_TYPE_LABELS[t]}" for t, n in final.items())
        + f"; {len(world.owner)} IPs in dedicated pools, {len(world.quarantine)} in quarantine, "
        f"{sum(len(v) for v in world.inventory.values())} free"
        + (f", {world.returned_to_inventory} returned from quarantine" if world.returned_to_inventory else "")
    )
    if to_dedicated:
        mean = sum(to_dedicated) / len(to_dedicated)
        lines.append(
            f"  General → Dedicated: {len(to_dedicated)} accounts, {min(to_dedicated)}-{max(to_dedicated)} "
            f"sending days in Transition (mean {mean:.1f})"
        )
    lines.extend(_rule_11_line(timelines))
    lines.extend(general_story(pool) for pool in result.general.values() if pool.ramped)
    return lines


def _rule_11_line(timelines: list[Timeline]) -> list[str]:
    """The same-day breaker's work over the scenario, when it had any."""
    trips = sum(1 for line in timelines for _, kind, _ in line.marks if kind == "trip")
    pauses = sum(1 for line in timelines for _, kind, _ in line.marks if kind == "throttle")
    if not trips and not pauses:
        return []
    return [f"  same-day breaker: {trips} pair-days held for the rest of the day, {pauses} throttle pauses"]


def general_story(pool: GeneralTimeline) -> str:
    """When each IP added to the region's general pool joined and was warm (rule 12)."""
    parts = []
    for address, joined in pool.added.items():
        if not joined:
            continue
        warm = next((i for i in range(joined, len(pool.days)) if pool.stages[address][i] is None), None)
        parts.append(f"{address} added day {joined}, " + (f"warm from day {warm}" if warm is not None else "ramping"))
    return f"  general pool {pool.region}: " + "; ".join(parts)


def days_to_dedicated(line: Timeline) -> int | None:
    """Sending days from the first day in Transition to the first day Dedicated."""
    start = line.first("transition")
    if start is None:
        return None
    end = line.first("dedicated", start)
    if end is None:
        return None
    return line.sending_days(start, end)


def account_story(line: Timeline) -> str:
    parts: list[str] = []
    moves = [(i, text) for i, text in line.events if "→" in text]
    for i, text in moves:
        for name, label in MANAGEMENT_TYPE_LABELS.items():
            text = text.replace(name, label)
        parts.append(f"day {i} {text}")
    took = days_to_dedicated(line)
    if took is not None:
        parts.append(f"{took} sending days in Transition")
    assigned = sum(1 for _, text in line.events if text.startswith("assigned"))
    released = sum(1 for _, text in line.events if "quarantine" in text)
    if assigned:
        parts.append(f"{assigned} IP{'s' if assigned != 1 else ''} assigned")
    if released:
        parts.append(f"{released} released to quarantine")
    now = MANAGEMENT_TYPE_LABELS[line.management[-1]]
    ips = line.ip_count[-1]
    return f"{line.account_id}: {now} with {ips} IP{'s' if ips != 1 else ''} at the end" + (
        " — " + ", ".join(parts) if parts else ""
    )
