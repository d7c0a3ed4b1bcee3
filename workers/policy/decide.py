"""The one entry point of the policy: ``decide`` one account for one day (SPEC §2 rules 1-7).

The account is decided with its own policy (``Policy.for_account``: its overrides of
``dedicated_threshold_30d`` and ``max_ips_per_account``) and its mode (rule 7,
``workers/policy/modes.py``). Pure: no I/O, no clock. A run for day D reads the history of the days before D, so the
rebalancer and the simulator get the same answer, and a second run for the same D with
the first run's output fed back changes nothing (pairs remember the last day applied,
the scale-in streak the last day counted, and IPs are only assigned while too few).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from store.account_figures import AccountFigures
from store.policy_settings import Policy
from store.routing_entry import AccountRoute, ManagementType, ProviderRoute
from workers.policy.figures import carrying_providers, compute_figures
from workers.policy.model import (
    AccountState,
    Action,
    AssignIP,
    ChangeManagementType,
    DayHistory,
    PairDay,
    PairState,
    PoolIP,
    ReleaseToQuarantine,
    StartDrain,
    default_pool_id,
)
from workers.policy.modes import FROZEN, keeps_pool, wants_pool
from workers.policy.sizing import (
    pick_ip_to_drain,
    required_ips,
    update_scale_in_streak,
)
from workers.policy.split import plan_routes, provider_caps
from workers.policy.warmup import (
    PairEvent,
    carried_enough,
    day_limit,
    evaluate_pair,
    judge_day,
    percent,
    settled_pairs,
    warm_stage,
)
from workers.policy.window import WindowStats, days_in_window, peak_demand, summarize

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
    free IPs in the order they should be taken. ``policy`` is assumed validated; the
    account's overrides in it apply (passing ``policy.for_account(...)`` is the same).

    Each rule is one function over the run's working state (``_Run``); this one only
    says in which order they apply. A frozen account (rule 7) keeps everything it has.
    """
    policy = policy.for_account(account.account_id)
    days = days_in_window(policy, window, day)
    run = _Run.begin(policy, account, days, inventory, day)
    if account.mode == "frozen":
        _leave_frozen(run, pairs)
        return _conclude(run, days)
    _release_drained(run, account.ips)
    _advance_pairs(run, pairs, days)
    if account.paused:
        _hold_while_paused(run)
    elif run.management == "general":
        _enter_transition(run)
    elif not keeps_pool(policy, account.mode, run.stats):
        _return_to_general(run)
    else:
        _size_pool(run)
        if run.management == "transition":
            _finish_transition(run)
    return _conclude(run, days)


@dataclass
class _Run:
    """One run's working state: the account's fields as the rules change them, the pool's
    IPs and pairs, and what the caller must apply and be told."""

    policy: Policy
    account: AccountState
    day: date
    #: The last day of history this run reads (the day before ``day``).
    through: date
    stats: WindowStats
    required: int
    carrying: Sequence[str]
    inventory: Sequence[str]
    #: The window, oldest first.
    days: list[DayHistory]
    management: ManagementType
    started: date | None
    streak: int
    checked: date | None
    ips: list[PoolIP] = field(default_factory=list)
    pair_map: dict[tuple[str, str], PairState] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    events: list[PairEvent] = field(default_factory=list)

    @classmethod
    def begin(
        cls, policy: Policy, account: AccountState, days: list[DayHistory], inventory: Sequence[str], day: date
    ) -> _Run:
        stats = summarize(policy, days)
        return cls(
            policy=policy,
            account=account,
            day=day,
            through=day - _ONE_DAY,
            stats=stats,
            required=required_ips(policy, stats.peak_daily_volume_30d),
            carrying=carrying_providers(policy, stats),
            inventory=inventory,
            days=days,
            management=account.management_type,
            started=account.transition_started_on,
            streak=account.scale_in_streak,
            checked=account.scale_in_checked_on,
        )

    def active(self) -> list[PoolIP]:
        return [ip for ip in self.ips if not ip.draining]

    def caps(self) -> dict[str, int]:
        """Each provider's slice of one IP's daily capacity (``split.provider_caps``)."""
        return provider_caps(self.policy, self.stats.expected)

    def demand(self) -> dict[str, float]:
        """Rule 4 (v2): per provider, the larger of the last days' peak and ``E_p``."""
        peak = peak_demand(self.policy, self.days, self.day)
        expected = self.stats.expected
        return {p: max(float(peak[p]), expected[p]) for p in self.policy.mailbox_providers}

    def settled(self) -> frozenset[tuple[str, str]]:
        """Pairs that need no more warm-up (``warmup.settled_pairs``)."""
        active = [ip.address for ip in self.active()]
        stages = _stages(self.pair_map, self.ips)
        return settled_pairs(self.policy, active, stages, self.carrying, self.caps(), self.demand())

    def assign(self, wanted: int) -> list[str]:
        """Up to ``wanted`` free IPs into the pool, each with fresh pairs at stage 0."""
        taken = _take(self.inventory, self.ips, wanted)
        for address in taken:
            self.ips.append(PoolIP(address, self.day))
            self.actions.append(AssignIP(address))
            for provider in self.policy.mailbox_providers:
                self.pair_map[(address, provider)] = PairState(address, provider, 0, self.through)
        return taken

    def drain(self, victims: Collection[str]) -> None:
        self.ips = [
            replace(ip, draining_since=self.day) if ip.address in victims and not ip.draining else ip for ip in self.ips
        ]
        self.actions.extend(StartDrain(address) for address in victims)


def _release_drained(run: _Run, ips: Iterable[PoolIP]) -> None:
    """Drained IPs leave the pool for quarantine (even while paused: they carry nothing)."""
    policy, day = run.policy, run.day
    for ip in ips:
        since = ip.draining_since
        if since is not None and (day - since).days >= policy.drain_days:
            until = day + timedelta(days=policy.quarantine_days)
            run.actions.append(ReleaseToQuarantine(ip.address, until))
            run.notes.append(f"{ip.address} released to quarantine until {until.isoformat()}")
        else:
            run.ips.append(ip)


def _advance_pairs(run: _Run, pairs: Iterable[PairState], days: list[DayHistory]) -> None:
    """Warm-up (rule 2): apply to each pair the days it has not seen yet."""
    known = {(p.address, p.provider): p for p in pairs}
    caps = run.caps() if known else {}
    for ip in run.ips:
        for provider in run.policy.mailbox_providers:
            key = (ip.address, provider)
            pair = known.get(key)
            if pair is None:
                pair = PairState(ip.address, provider, 0, run.through)
            elif not ip.draining:
                pair, found = evaluate_pair(run.policy, pair, days, run.through, run.account.paused, caps.get(provider))
                run.events.extend(found)
            run.pair_map[key] = pair


def _leave_frozen(run: _Run, pairs: Iterable[PairState]) -> None:
    """Rule 7 (v2), ``frozen``: the pool (Draining IPs included), the stages and the type stay
    as they are; like a pause, the frozen days do not count toward scale-in."""
    known = {(p.address, p.provider): p for p in pairs}
    run.ips = list(run.account.ips)
    for ip in run.ips:
        for provider in run.policy.mailbox_providers:
            key = (ip.address, provider)
            run.pair_map[key] = known.get(key) or PairState(ip.address, provider, 0, run.through)
    if run.management != "general" and (run.checked is None or run.checked < run.day):
        run.checked = run.day


def _hold_while_paused(run: _Run) -> None:
    run.notes.insert(0, "warm-up paused by an operator: stages, pool and management type are frozen")
    if run.management != "general" and (run.checked is None or run.checked < run.day):
        run.checked = run.day  # the paused days do not count toward scale-in


def _enter_transition(run: _Run) -> None:
    """Rule 1: a General account that qualifies gets a dedicated pool and starts Transition."""
    policy, stats, mode = run.policy, run.stats, run.account.mode
    run.streak, run.checked = 0, None
    if not wants_pool(policy, mode, stats):
        run.notes.insert(0, _why_general(run))
        return
    taken = run.assign(run.required)
    if mode == "dedicated":
        head = "mode dedicated set by an operator"
    else:
        head = f"volume_30d {stats.volume_30d:,} ≥ {_threshold(run)} over {stats.active_days_30d} active days"
    if taken:
        run.actions.append(ChangeManagementType("general", "transition"))
        run.management, run.started = "transition", run.day
        run.checked = run.day  # as a re-run in Transition would count it: nothing fewer yet
        run.notes.insert(0, f"{head}: assigned {_ips(len(taken))}{_capped(run)} ({', '.join(taken)})")
    else:
        run.notes.insert(0, f"{head}, but no IP could be assigned: stays General")
    if len(taken) < run.required:
        run.notes.append(_shortage(run.account.region, len(taken), run.required))


def _why_general(run: _Run) -> str:
    policy, stats = run.policy, run.stats
    if run.account.mode == "general":
        return f"General: mode general set by an operator (never dedicated); volume_30d {stats.volume_30d:,}"
    if stats.volume_30d >= policy.dedicated_threshold_30d:
        return (
            f"General: volume_30d {stats.volume_30d:,} ≥ {_threshold(run)} but "
            f"{stats.active_days_30d} active days < {policy.min_active_days}"
        )
    return f"General: volume_30d {stats.volume_30d:,} < {_threshold(run)}"


def _threshold(run: _Run) -> str:
    """``dedicated_threshold_30d`` as a reason shows it, naming an account's own."""
    value = f"{run.policy.dedicated_threshold_30d:,}"
    if run.policy.overridden(run.account.account_id, "dedicated_threshold_30d"):
        return f"dedicated_threshold_30d {value} (account override)"
    return value


def _capped(run: _Run) -> str:
    """Said after a number of IPs when the account's own ``max_ips_per_account`` capped it."""
    policy = run.policy
    if not policy.overridden(run.account.account_id, "max_ips_per_account"):
        return ""
    needed = -(-run.stats.peak_daily_volume_30d // policy.ip_daily_capacity)
    if needed <= policy.max_ips_per_account:
        return ""
    return f" (at most {policy.max_ips_per_account}: max_ips_per_account, account override)"


def _return_to_general(run: _Run) -> None:
    """Rule 6: below the general threshold, every IP drains and the account is General again."""
    drained = [ip.address for ip in run.active()]
    run.drain(drained)
    run.actions.append(ChangeManagementType(run.management, "general"))
    if run.account.mode == "general":
        why = "mode general set by an operator"
    else:
        why = f"volume_30d {run.stats.volume_30d:,} < {run.policy.general_threshold_30d:,}"
    run.notes.insert(0, f"{why}: back to General, draining {_ips(len(drained))}")
    run.management, run.started, run.streak, run.checked = "general", None, 0, None


def _size_pool(run: _Run) -> None:
    """Rule 5: as many active IPs as the peak day needs; one more now, one fewer only after
    ``scale_in_days`` days in a row of needing fewer."""
    active = run.active()
    if run.required > len(active):
        _grow_pool(run, len(active))
    else:
        _shrink_pool(run, active)


def _grow_pool(run: _Run, active: int) -> None:
    wanted = run.required - active
    taken = run.assign(wanted)
    if taken:
        run.notes.append(f"{_sizing(run)}, pool had {active}: assigned {', '.join(taken)}")
    if len(taken) < wanted:
        run.notes.append(_shortage(run.account.region, len(taken), wanted))
    run.streak, run.checked = 0, run.day


def _shrink_pool(run: _Run, active: list[PoolIP]) -> None:
    fewer = run.required < len(active)
    run.streak, run.checked = update_scale_in_streak(run.streak, run.checked, run.day, fewer)
    if not fewer:
        return
    if run.streak < run.policy.scale_in_days:
        run.notes.append(
            f"{_sizing(run)}, pool has {len(active)} "
            f"(for {run.streak} of {run.policy.scale_in_days} days before one drains)"
        )
        return
    victim = pick_ip_to_drain(run.policy, active, _stages(run.pair_map, run.ips), run.carrying)
    run.drain([victim.address])
    run.notes.append(f"{_sizing(run)} for {run.streak} days, pool has {len(active)}: draining {victim.address}")
    run.streak = 0


def _sizing(run: _Run) -> str:
    return f"peak day {run.stats.peak_daily_volume_30d:,} needs {_ips(run.required)}{_capped(run)}"


def _finish_transition(run: _Run) -> None:
    """Rule 4: Transition → Dedicated.

    v1: once every active IP is warm for every provider that carries traffic. v2: also
    once, for every carrying provider, each pair is warm or the pool's limits cover the
    provider's demand (``f_p = 1`` with the peak of the last days inside the limits):
    every pair is settled (``warmup.settled_pairs``).

    Never in the run for the day the account entered Transition (rule 1 and rule 4 are one
    move each, one move a day): a re-run for that day finds the account in Transition with
    the same pairs, and must not go on to Dedicated where the first run did not.
    """
    active, carrying, policy = run.active(), run.carrying, run.policy
    if not active or not carrying or run.started == run.day:
        return
    if all(run.pair_map[(ip.address, p)].stage >= warm_stage(policy, p) for ip in active for p in carrying):
        _become_dedicated(run, f"every dedicated IP finished warm-up for {', '.join(carrying)}")
    elif run.policy.warmup_rules != "v1":
        settled = run.settled()
        if all((ip.address, p) in settled for ip in active for p in carrying):
            _become_dedicated(run, f"the dedicated limits cover the demand of {', '.join(carrying)}")


def _become_dedicated(run: _Run, why: str) -> None:
    run.actions.append(ChangeManagementType("transition", "dedicated"))
    run.management = "dedicated"
    run.notes.insert(0, f"{why}: Dedicated")


def _conclude(run: _Run, days: list[DayHistory]) -> Decision:
    """Routes and figures for the state the rules left, and the Decision that carries them."""
    policy, account, ips = run.policy, run.account, run.ips
    stages = _stages(run.pair_map, ips)
    routes: dict[str, ProviderRoute] = {}
    if run.management != "general" and any(not ip.draining for ip in ips):
        caps = provider_caps(policy, run.stats.expected)
        routes = plan_routes(policy, run.management == "dedicated", ips, stages, caps, run.stats.expected)
    settled = run.settled() if ips else frozenset()
    figures = compute_figures(
        run.day, policy, run.management, run.stats, run.required, ips, stages, routes, run.carrying, settled
    )
    _describe(run, figures, settled)
    if run.management == "dedicated":
        run.notes.extend(_shared_providers(run, days, routes))
    if account.mode == "frozen":
        run.notes.insert(0, FROZEN)
    elif run.management != "general" and not account.paused:
        run.notes.extend(_yesterday(policy, days, run.through, ips, run.carrying))
        if policy.warmup_rules != "v1":
            run.notes.extend(_holding(run, days, stages, settled))
    pool_id = account.pool_id or default_pool_id(account.account_id)
    return Decision(
        account=replace(
            account,
            management_type=run.management,
            transition_started_on=run.started,
            ips=tuple(ips),
            scale_in_streak=run.streak,
            scale_in_checked_on=run.checked,
        ),
        pairs=tuple(run.pair_map[(ip.address, p)] for ip in ips for p in policy.mailbox_providers),
        actions=tuple(run.actions),
        reason="; ".join(run.notes),
        route=AccountRoute(
            account_id=account.account_id,
            region=account.region,
            management_type=run.management,
            day=run.day,
            pool_id=pool_id if routes else None,
            providers=routes,
            hourly_burst=policy.hourly_burst,
            ip_capacity=policy.ip_daily_capacity,
        ),
        figures=figures,
        events=tuple(run.events),
    )


def _describe(run: _Run, figures: AccountFigures, settled: frozenset[tuple[str, str]]) -> None:
    """The headline of an account that stayed in Transition or Dedicated."""
    if any(isinstance(a, ChangeManagementType) for a in run.actions):
        return
    if run.management == "transition":
        run.notes.insert(
            0,
            f"Transition: {figures.dedicated_share_percent:.1f}% of expected traffic dedicated, "
            f"warm-up {figures.transition_progress_percent:.0f}%",
        )
    elif run.management == "dedicated":
        run.notes.insert(0, f"Dedicated: {_ips(figures.dedicated_ip_count)}")
        run.notes.extend(
            _warming(run, row.address, row.traffic_share_percent, settled)
            for row in figures.ips
            if row.status == "in_progress"
        )


def _warming(run: _Run, address: str, share_percent: float, settled: frozenset[tuple[str, str]]) -> str:
    """An In Progress IP of a Dedicated pool: the providers still warming on it, each at
    its stage (one cold provider is not the whole IP), and its planned share."""
    cold = [p for p in run.carrying if (address, p) not in settled]
    stages = ", ".join(f"{p} at stage {run.pair_map[(address, p)].stage}/{warm_stage(run.policy, p)}" for p in cold)
    rest = " (the other providers warm enough)" if len(cold) < len(run.carrying) else ""
    return f"{address} In Progress: {stages}{rest}, planned share {share_percent:.1f}%"


def _shared_providers(run: _Run, days: list[DayHistory], routes: Mapping[str, ProviderRoute]) -> list[str]:
    """Rule 13: the providers a Dedicated account's pool does not carry (yet), and those
    it starts carrying in this run, on stage-0 pairs.

    A provider without expected traffic has no capacity on the dedicated IPs: should the
    account start sending to it, the shared pool carries it (not as overflow) until the
    next run gives its pairs a limit from the traffic seen.
    """
    if not routes:
        return []
    notes: list[str] = []
    shared = [p for p in run.policy.mailbox_providers if p in routes and routes[p].dedicated_share <= 0]
    low = [p for p in shared if p in run.carrying]
    if low:
        notes.append(f"too little traffic yet for dedicated pairs of {', '.join(low)}: the shared pool carries it")
    idle = [p for p in shared if p not in run.carrying]
    if idle:
        notes.append(f"no traffic yet for {', '.join(idle)}: the shared pool takes any until the next run")
    sent_before = {provider for h in days for (_, provider) in h.pairs}
    new = [p for p in run.carrying if p not in shared and p not in sent_before]
    if new:
        notes.append(f"new traffic for {', '.join(new)}: its dedicated pairs warm up from stage 0")
    return notes


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


#: At most this many providers' holds are named in a ``reason`` (the rest are counted).
_MAX_HOLD_CLAUSES = 3


def _holding(
    run: _Run, days: list[DayHistory], stages: dict[str, dict[str, int]], settled: frozenset[tuple[str, str]]
) -> list[str]:
    """Rule 2 (v2): the providers whose warming pairs held for volume on the last history day.

    One clause per provider, from the history: the pair that carried the smallest share of
    its limit, e.g. ``google: carried 12% of 60,000 yesterday; holds``. Only pairs that still
    need warm-up are named (a settled pair holding is the normal state), and only when the
    day surely held them: a pair that carried enough for the stage below may have advanced.
    """
    yesterday = days[-1].pairs if days and days[-1].day == run.through else {}  # absent: sent nothing
    policy, caps = run.policy, run.caps()
    worst: dict[str, tuple[float, int, int]] = {}  # provider → (share, limit, pairs holding)
    for ip in run.active():
        if ip.assigned_on > run.through:
            continue  # assigned by this run: it could not carry anything yet
        for provider in run.carrying:
            if (ip.address, provider) in settled:
                continue
            stage = stages[ip.address].get(provider, 0)
            limit = day_limit(policy, provider, stage, caps[provider])
            sent = yesterday.get((ip.address, provider))
            carried = sent.sent if sent is not None else 0
            if limit is None or limit <= 0 or not _surely_held(run, sent, provider, stage, caps[provider], limit):
                continue
            share, shown, count = worst.get(provider, (2.0, limit, 0))
            mine = carried / limit
            worst[provider] = (mine, limit, count + 1) if mine < share else (share, shown, count + 1)
    clauses = [
        f"{provider}: carried {percent(share)} of {limit:,} yesterday; "
        + ("holds" if count == 1 else f"{count} IPs hold")
        for provider, (share, limit, count) in worst.items()
    ]
    if len(clauses) > _MAX_HOLD_CLAUSES:
        more = len(clauses) - _MAX_HOLD_CLAUSES
        clauses = [*clauses[:_MAX_HOLD_CLAUSES], f"{more} more {'provider holds' if more == 1 else 'providers hold'}"]
    return clauses


def _surely_held(run: _Run, sent: PairDay | None, provider: str, stage: int, cap: int, limit: int) -> bool:
    """The last day held the pair at ``stage`` for volume (not its outcomes, not an advance)."""
    policy = run.policy
    if sent is not None and judge_day(policy, sent.outcomes)[0] != "advance":
        return False  # the outcomes held it or stepped it back: ``_yesterday`` says so
    carried = sent.sent if sent is not None else 0
    if carried_enough(policy, carried, limit):
        return False
    below = day_limit(policy, provider, stage - 1, cap) if stage > 0 else None
    return below is None or not carried_enough(policy, carried, below)
