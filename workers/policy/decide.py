"""The one entry point of the policy: ``decide`` one account for one day (SPEC §2 rules 1-7).

Pure: no I/O, no clock. A run for day D reads the history of the days before D, so the
rebalancer and the simulator get the same answer, and a second run for the same D with
the first run's output fed back changes nothing (pairs remember the last day applied,
the scale-in streak the last day counted, and IPs are only assigned while too few).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from store.routing_entry import AccountRoute, ManagementType, ProviderRoute
from workers.policy.figures import AccountFigures, carrying_providers, compute_figures
from workers.policy.model import (
    AccountState,
    Action,
    AssignIP,
    ChangeManagementType,
    DayHistory,
    PairState,
    PoolIP,
    ReleaseToQuarantine,
    StartDrain,
    default_pool_id,
)
from workers.policy.settings import Policy
from workers.policy.sizing import (
    below_general_threshold,
    pick_ip_to_drain,
    qualifies_for_pool,
    required_ips,
    update_scale_in_streak,
)
from workers.policy.split import plan_routes, provider_caps
from workers.policy.warmup import PairEvent, evaluate_pair, judge_day
from workers.policy.window import days_in_window, summarize

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Decision:
    """Everything one run decided for one account."""

    #: The account's new state (``paused`` is never changed here).
    account: AccountState
    #: Warm-up pairs of the pool's IPs (released IPs' pairs are gone), pool order.
    pairs: tuple[PairState, ...]
    #: What the caller must apply besides storing the state, in order.
    actions: tuple[Action, ...]
    #: Why, for people: one sentence per finding, joined with "; ".
    reason: str
    #: The routing entry for the routers (all traffic through the general pool in General).
    route: AccountRoute
    figures: AccountFigures
    #: Held or stepped-back days applied in this run, for one log line each.
    events: tuple[PairEvent, ...]


def decide(
    policy: Policy,
    account: AccountState,
    pairs: Iterable[PairState],
    window: Iterable[DayHistory],
    inventory: Sequence[str],
    day: date,
) -> Decision:
    """Decide ``account`` for ``day``.

    ``pairs``: the warm-up state of the pool's (IP, provider) pairs (missing ones start
    at stage 0 today). ``window``: the account's history; days outside
    ``day - history_window_days .. day - 1`` are ignored. ``inventory``: the region's
    free IPs in the order they should be taken. ``policy`` is assumed validated.
    """
    through = day - _ONE_DAY
    days = days_in_window(policy, window, day)
    stats = summarize(policy, days)
    required = required_ips(policy, stats.peak_daily_volume_30d)
    carrying = carrying_providers(policy, stats)
    providers = policy.mailbox_providers
    paused = account.paused

    notes: list[str] = []
    actions: list[Action] = []
    events: list[PairEvent] = []
    management: ManagementType = account.management_type
    started = account.transition_started_on
    streak, checked = account.scale_in_streak, account.scale_in_checked_on

    # Drained IPs leave the pool for quarantine (even while paused: they carry nothing).
    ips: list[PoolIP] = []
    for ip in account.ips:
        since = ip.draining_since
        if since is not None and (day - since).days >= policy.drain_days:
            until = day + timedelta(days=policy.quarantine_days)
            actions.append(ReleaseToQuarantine(ip.address, until))
            notes.append(f"{ip.address} released to quarantine until {until.isoformat()}")
        else:
            ips.append(ip)

    # Warm-up: apply the days each pair has not seen yet (rule 2).
    known = {(p.address, p.provider): p for p in pairs}
    pair_map: dict[tuple[str, str], PairState] = {}
    for ip in ips:
        for provider in providers:
            key = (ip.address, provider)
            pair = known.get(key)
            if pair is None:
                pair = PairState(ip.address, provider, 0, through)
            elif not ip.draining:
                pair, found = evaluate_pair(policy, pair, days, through, paused)
                events.extend(found)
            pair_map[key] = pair

    if paused:
        notes.insert(0, "warm-up paused by an operator: stages, pool and management type are frozen")
        if management != "general" and (checked is None or checked < day):
            checked = day  # the paused days do not count toward scale-in
    elif management == "general":
        streak, checked = 0, None
        if qualifies_for_pool(policy, stats):
            taken = _take(inventory, ips, required)
            for address in taken:
                ips.append(PoolIP(address, day))
                actions.append(AssignIP(address))
                for provider in providers:
                    pair_map[(address, provider)] = PairState(address, provider, 0, through)
            head = (
                f"volume_30d {stats.volume_30d:,} ≥ {policy.dedicated_threshold_30d:,} "
                f"over {stats.active_days_30d} active days"
            )
            if taken:
                actions.append(ChangeManagementType("general", "transition"))
                management, started = "transition", day
                checked = day  # as a re-run in Transition would count it: nothing fewer yet
                notes.insert(0, f"{head}: assigned {_ips(len(taken))} ({', '.join(taken)})")
            else:
                notes.insert(0, f"{head}, but no IP could be assigned: stays General")
            if len(taken) < required:
                notes.append(_shortage(account.region, len(taken), required))
        elif stats.volume_30d >= policy.dedicated_threshold_30d:
            notes.insert(
                0,
                f"General: volume_30d {stats.volume_30d:,} ≥ {policy.dedicated_threshold_30d:,} but "
                f"{stats.active_days_30d} active days < {policy.min_active_days}",
            )
        else:
            notes.insert(0, f"General: volume_30d {stats.volume_30d:,} < {policy.dedicated_threshold_30d:,}")
    elif below_general_threshold(policy, stats):
        drained = [ip.address for ip in ips if not ip.draining]
        ips = [replace(ip, draining_since=day) if not ip.draining else ip for ip in ips]
        actions.extend(StartDrain(address) for address in drained)
        actions.append(ChangeManagementType(management, "general"))
        notes.insert(
            0,
            f"volume_30d {stats.volume_30d:,} < {policy.general_threshold_30d:,}: back to General, "
            f"draining {_ips(len(drained))}",
        )
        management, started, streak, checked = "general", None, 0, None
    else:
        active = [ip for ip in ips if not ip.draining]
        sizing = f"peak day {stats.peak_daily_volume_30d:,} needs {_ips(required)}"
        if required > len(active):
            taken = _take(inventory, ips, required - len(active))
            for address in taken:
                ips.append(PoolIP(address, day))
                actions.append(AssignIP(address))
                for provider in providers:
                    pair_map[(address, provider)] = PairState(address, provider, 0, through)
            if taken:
                notes.append(f"{sizing}, pool had {len(active)}: assigned {', '.join(taken)}")
            if len(taken) < required - len(active):
                notes.append(_shortage(account.region, len(taken), required - len(active)))
            streak, checked = 0, day
        else:
            fewer = required < len(active)
            streak, checked = update_scale_in_streak(streak, checked, day, fewer)
            if fewer and streak >= policy.scale_in_days:
                stages = _stages(pair_map, ips)
                victim = pick_ip_to_drain(policy, active, stages, carrying)
                ips = [replace(ip, draining_since=day) if ip is victim else ip for ip in ips]
                actions.append(StartDrain(victim.address))
                notes.append(f"{sizing} for {streak} days, pool has {len(active)}: draining {victim.address}")
                streak = 0
            elif fewer:
                notes.append(
                    f"{sizing}, pool has {len(active)} (for {streak} of {policy.scale_in_days} days before one drains)"
                )
        if management == "transition":
            active = [ip for ip in ips if not ip.draining]
            warm = policy.warm_stage
            if active and carrying and all(pair_map[(ip.address, p)].stage >= warm for ip in active for p in carrying):
                actions.append(ChangeManagementType("transition", "dedicated"))
                management = "dedicated"
                notes.insert(
                    0,
                    f"every dedicated IP finished warm-up for {', '.join(carrying)}: Dedicated",
                )

    stages = _stages(pair_map, ips)
    caps = provider_caps(policy, stats.expected)
    pool_active = any(not ip.draining for ip in ips)
    routes: dict[str, ProviderRoute] = {}
    if management != "general" and pool_active:
        routes = plan_routes(policy, management == "dedicated", ips, stages, caps, stats.expected)
    figures = compute_figures(policy, management, stats, required, ips, stages, routes, carrying)

    changed = any(isinstance(a, ChangeManagementType) for a in actions)
    if management == "transition" and not changed:
        notes.insert(
            0,
            f"Transition: {figures.dedicated_share_percent:.1f}% of expected traffic dedicated, "
            f"warm-up {figures.transition_progress_percent:.0f}%",
        )
    elif management == "dedicated" and not changed:
        notes.insert(0, f"Dedicated: {_ips(figures.dedicated_ip_count)}")
        warm = policy.warm_stage
        notes.extend(
            f"{row.address} In Progress: stage {row.min_stage}/{warm}, {row.traffic_share_percent:.1f}% of the traffic"
            for row in figures.ips
            if row.status == "in_progress"
        )
    if management != "general" and not paused:
        notes.extend(_yesterday(policy, days, through, ips, carrying))

    pool_id = account.pool_id or default_pool_id(account.account_id)
    new_account = AccountState(
        account_id=account.account_id,
        region=account.region,
        management_type=management,
        transition_started_on=started,
        paused=paused,
        pool_id=account.pool_id,
        ips=tuple(ips),
        scale_in_streak=streak,
        scale_in_checked_on=checked,
    )
    route = AccountRoute(
        account_id=account.account_id,
        region=account.region,
        management_type=management,
        day=day,
        pool_id=pool_id if routes else None,
        providers=routes,
    )
    ordered_pairs = tuple(pair_map[(ip.address, p)] for ip in ips for p in providers)
    return Decision(
        account=new_account,
        pairs=ordered_pairs,
        actions=tuple(actions),
        reason="; ".join(notes),
        route=route,
        figures=figures,
        events=tuple(events),
    )


def _take(inventory: Sequence[str], pool: Sequence[PoolIP], wanted: int) -> list[str]:
    """Up to ``wanted`` addresses from the front of the inventory, none already in the pool."""
    own = {ip.address for ip in pool}
    taken: list[str] = []
    for address in inventory:
        if len(taken) >= wanted:
            break
        if address not in own:
            own.add(address)
            taken.append(address)
    return taken


def _shortage(region: str, taken: int, needed: int) -> str:
    return f"inventory of {region} has {taken} free {'IP' if taken == 1 else 'IPs'}; {needed} needed"


def _ips(n: int) -> str:
    return f"{n} IP" if n == 1 else f"{n} IPs"


def _stages(pair_map: dict[tuple[str, str], PairState], ips: Sequence[PoolIP]) -> dict[str, dict[str, int]]:
    stages: dict[str, dict[str, int]] = {ip.address: {} for ip in ips}
    for (address, provider), pair in pair_map.items():
        by_provider = stages.get(address)
        if by_provider is not None:
            by_provider[provider] = pair.stage
    return stages


def _yesterday(
    policy: Policy, days: list[DayHistory], through: date, ips: Sequence[PoolIP], carrying: Sequence[str]
) -> list[str]:
    """Holds and step-backs of the last history day, from the history itself.

    Read from the history rather than from this run's events so that a re-run for the
    same day explains the same thing.
    """
    if not days or days[-1].day != through:
        return []
    last = days[-1]
    notes: list[str] = []
    for ip in ips:
        if ip.draining:
            continue
        for provider in carrying:
            sent = last.pairs.get((ip.address, provider))
            if sent is None or sent.sent <= 0:
                continue
            verdict, detail = judge_day(policy, sent.outcomes)
            if verdict == "hold":
                notes.append(f"holding warm-up of {ip.address} for {provider}: {detail}")
            elif verdict == "step_back":
                notes.append(f"warm-up of {ip.address} for {provider} stepped back a stage: {detail}")
    return notes
