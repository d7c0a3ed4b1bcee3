"""One rebalance: decide every account for day D and store what changed.

Data flow: bulk reads (policy, accounts, pools, pairs, the history window in one pass)
→ ``decide`` per account (pure) → either a batched update of figures and reason (the
decision changed nothing else, the common case) or one transaction for the account
that locks its row, reads its state again, decides again and applies everything: IPs
claimed from the inventory with ``FOR UPDATE SKIP LOCKED``, drains, releases, warm-up
stages, the account row, and the routing entry with a new version. A crash leaves each
account either before or after its transaction, never between. A ``stop`` event
(SIGTERM) ends the run between accounts: what is applied stays applied, the rest waits for
the next run.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import asyncpg

from store import audit, history_range, queries, routing_store
from store.outage import UNREACHABLE
from store.policy_columns import policy_from_columns
from store.routing_entry import AccountRoute
from workers.policy import (
    AccountState,
    AssignIP,
    DayHistory,
    Decision,
    PairState,
    Policy,
    PoolIP,
    ReleaseToQuarantine,
    StartDrain,
    decide,
)
from workers.policy.modes import wants_pool
from workers.policy.window import WindowStats
from workers.rebalance import audit_events, partitions, rows

log = logging.getLogger(__name__)

#: Days of history kept beyond the window (late imports, operators looking back); the
#: same range bounds ImportHistory (``store/history_range.py``).
PRUNE_MARGIN_DAYS = history_range.MARGIN_DAYS
FIGURES_BATCH = 5000
#: Accounts read and decided at a time: a run's memory is one chunk's, not all accounts'.
CHUNK_ACCOUNTS = 10_000


@dataclass
class RebalanceReport:
    day: date
    accounts: int = 0
    applied: int = 0  # accounts whose state, pool or route changed (one transaction each)
    unchanged: int = 0  # accounts whose figures and reason only were refreshed
    failed: int = 0
    ips_assigned: int = 0
    ips_drained: int = 0
    ips_quarantined: int = 0
    ips_back_in_inventory: int = 0
    routes_published: int = 0
    #: Accounts that had no routing entry and got a General one (``_publish_general_entries``).
    general_entries: int = 0
    #: Regions whose general pool entry changed as IPs ramped in (``_ramp_general_pools``).
    general_pools_published: int = 0
    #: Audit events older than the policy's ``audit_retention_days``, deleted at the end.
    audit_events_pruned: int = 0
    seconds: float = 0.0
    #: Ended early by ``stop``: the accounts not reached wait for the next run.
    stopped: bool = False
    phases: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"rebalance day={self.day} accounts={self.accounts} applied={self.applied} "
            f"unchanged={self.unchanged} failed={self.failed} assigned={self.ips_assigned} "
            f"drained={self.ips_drained} quarantined={self.ips_quarantined} "
            f"back_in_inventory={self.ips_back_in_inventory} routes={self.routes_published} "
            f"seconds={self.seconds:.2f}"
            + (" stopped early: the other accounts wait for the next run" if self.stopped else "")
        )


Progress = Callable[[int, int], None]


async def rebalance(
    pool: asyncpg.Pool,
    day: date,
    *,
    default_region: str = "us-east",
    progress: Progress | None = None,
    apply_concurrency: int = 4,
    stop: asyncio.Event | None = None,
    chunk_accounts: int = CHUNK_ACCOUNTS,
) -> RebalanceReport:
    """Decide every account for ``day`` from the history before it and store the result;
    once ``stop`` is set, no further account is begun."""
    stop = stop or asyncio.Event()
    q = queries.load()
    report = RebalanceReport(day=day)
    started = time.perf_counter()
    async with pool.acquire() as conn:
        policy = policy_from_columns(await conn.fetchrow(q["worker_policy"]))
        async with conn.transaction():  # the IPs that move and their audit events, together
            released = await conn.fetch(q["worker_release_quarantine"], day)
            removed = await conn.fetch(q["worker_remove_drained"], day)  # RemoveIPs, once drained
            await audit.record_all(conn, audit.REBALANCER, audit_events.inventory_events(released, removed, day))
        report.ips_back_in_inventory = len(released)
        for r in removed:
            log.info("removed ip=%s region=%s day=%s: drained", r["address"], r["region"], day)
        total = await conn.fetchval(q["worker_count_accounts"])
    first = day - timedelta(days=policy.history_window_days)
    await partitions.ensure_partitions(pool, first, day + timedelta(days=partitions.AHEAD_DAYS))
    report.general_pools_published = await _ramp_general_pools(pool, policy, day)
    mark = _phase(report, "setup", started)

    after: str | None = ""
    storing: asyncio.Task[None] | None = None  # the previous chunk's writes
    try:
        while after is not None and not stop.is_set():
            chunk = await _read_chunk(pool, policy, day, after, chunk_accounts, default_region, report)
            if not chunk.accounts:
                break
            decided = _decide_chunk(policy, chunk, day, report, stop)
            if storing is not None:
                waited = time.perf_counter()
                await storing
                _add_phase(report, "wait_for_writes", waited)
            # PostgreSQL writes this chunk while this process reads and decides the next:
            # the two take turns on neither the same core nor the same account.
            storing = asyncio.create_task(
                _store_chunk(pool, policy, chunk, decided, day, report, apply_concurrency, stop)
            )
            if progress is not None:
                progress(report.accounts, max(total, report.accounts))
            after = None if chunk.final else chunk.last
        if storing is not None:
            waited = time.perf_counter()
            await storing
            _add_phase(report, "wait_for_writes", waited)
    finally:
        if storing is not None and not storing.done():  # the loop failed: the writes under way finish
            await asyncio.wait([storing])
            if not storing.cancelled() and storing.exception() is not None:
                log.error("rebalance day=%s: writing a chunk failed too: %s", day, storing.exception())
    mark = _phase(report, "decide_and_apply", mark)
    if stop.is_set():
        report.stopped = True
        report.seconds = time.perf_counter() - started
        return report  # pruning can wait for the next run

    await partitions.drop_before(pool, history_range.kept_from(day, policy.history_window_days))
    async with pool.acquire() as conn:
        await conn.execute(q["worker_prune_flushes"], PRUNE_MARGIN_DAYS)
        report.audit_events_pruned = await audit.prune(conn, policy.audit_retention_days)
    _phase(report, "prune", mark)
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class _Chunk:
    """Accounts after one key up to ``last``, with what deciding them reads: their state
    and their history window."""

    accounts: list[asyncpg.Record]
    last: str
    #: No account after this chunk.
    final: bool
    history: dict[str, list[DayHistory]]
    pool_ips: dict[str, list[PoolIP]]
    pairs: dict[str, list[PairState]]


async def _read_chunk(
    pool: asyncpg.Pool,
    policy: Policy,
    day: date,
    after: str,
    size: int,
    default_region: str,
    report: RebalanceReport,
) -> _Chunk:
    """The next chunk of at most ``size`` accounts after ``after``, plus those seen only in
    its key range of the history (created here in ``default_region``). Bounded memory: a
    run holds one chunk's windows at a time, whatever the number of accounts."""
    q = queries.load()
    first = day - timedelta(days=policy.history_window_days)
    calendar = [first + timedelta(days=i) for i in range(policy.history_window_days)]
    t = time.perf_counter()
    async with pool.acquire() as conn:
        accounts = await conn.fetch(q["worker_accounts"], after, size)
        final = len(accounts) < size
        last: str | None = accounts[-1]["account_id"] if accounts else None
        if final:
            last = await conn.fetchval(q["worker_last_chunk_end"], last, first, day)
        if last is None:  # no account and no history after ``after``
            return _Chunk([], "", True, {}, {}, {})
        async with conn.transaction():
            await conn.execute(q["worker_window_work_mem"])
            window_rows = await conn.fetch(q["worker_history_window"], after, last, first, day)
        outcomes = rows.index_outcomes(await conn.fetch(q["worker_outcomes_window"], after, last, first, day))
        t = _add_phase(report, "load_window_sql", t)
        with _collector_paused():
            history = {
                r["account_id"]: rows.window(
                    r["account_id"], r["days"], r["providers"], r["ips"], r["sent"], outcomes, calendar
                )
                for r in window_rows
            }
        del window_rows, outcomes
        t = _add_phase(report, "load_window_decode", t)
        unknown = history.keys() - {r["account_id"] for r in accounts}
        if unknown:
            status = await conn.execute(q["worker_create_accounts"], sorted(unknown), default_region)
            # Read again: the chunk's range now holds its accounts and the ones just made. Only
            # those: a deleted account (a tombstone) or one of a region that does not exist is
            # not made, and counting it would read an account past the chunk, without its history.
            created = int(status.rsplit(" ", 1)[-1])  # "INSERT 0 <rows>"
            if created:
                accounts = await conn.fetch(q["worker_accounts"], after, len(accounts) + created)
        pool_ips: dict[str, list[PoolIP]] = defaultdict(list)
        for r in await conn.fetch(q["worker_pool_ips"], after, last):
            pool_ips[r["account_id"]].append(rows.pool_ip(r))
        pairs: dict[str, list[PairState]] = defaultdict(list)
        for r in await conn.fetch(q["worker_pairs"], after, last):
            pairs[r["account_id"]].append(rows.pair_state(r))
        _add_phase(report, "load_state", t)
    return _Chunk(list(accounts), last, final, history, pool_ips, pairs)


@dataclass
class _Decided:
    """A chunk's decisions: (id, reason, figures) where only those changed, (id, window)
    of the accounts to apply one transaction each."""

    figures: list[tuple[str, str, str]]
    to_apply: list[tuple[str, Sequence[DayHistory]]]


def _decide_chunk(policy: Policy, chunk: _Chunk, day: date, report: RebalanceReport, stop: asyncio.Event) -> _Decided:
    t = time.perf_counter()
    with _collector_paused():
        figures, to_apply = _decide_all(policy, chunk, day, stop)
    report.accounts += len(figures) + len(to_apply)
    report.unchanged += len(figures)
    _add_phase(report, "decide", t)
    return _Decided(figures, to_apply)


async def _store_chunk(
    pool: asyncpg.Pool,
    policy: Policy,
    chunk: _Chunk,
    decided: _Decided,
    day: date,
    report: RebalanceReport,
    apply_concurrency: int,
    stop: asyncio.Event,
) -> None:
    """What a chunk's decisions change: General entries for accounts without any, figures
    in batches, and the accounts to apply. Its phases overlap the next chunk's reading and
    deciding, so they add up to more than the run's seconds."""
    t = time.perf_counter()
    report.general_entries += await _publish_general_entries(pool, chunk.accounts, day)
    t = _add_phase(report, "general_entries", t)
    for i in range(0, len(decided.figures), FIGURES_BATCH):
        await _write_figures(pool, decided.figures[i : i + FIGURES_BATCH], day)
    t = _add_phase(report, "write_figures", t)
    await _apply_all(pool, policy, decided.to_apply, day, report, concurrency=apply_concurrency, stop=stop)
    _add_phase(report, "apply", t)


def _decide_all(
    policy: Policy, chunk: _Chunk, day: date, stop: asyncio.Event
) -> tuple[list[tuple[str, str, str]], list[tuple[str, Sequence[DayHistory]]]]:
    """Each account of the chunk decided without I/O: (id, reason, figures) of those whose
    decision changes nothing else, and (id, window) of those to apply. A chunk takes about
    a second, so ``stop`` (set by a signal between chunks) is seen within one."""
    figures: list[tuple[str, str, str]] = []
    to_apply: list[tuple[str, Sequence[DayHistory]]] = []
    for row in chunk.accounts:
        if stop.is_set():
            break
        account = rows.account_state(row, chunk.pool_ips.get(row["account_id"], ()))
        window = chunk.history.get(account.account_id, [])
        account_pairs = chunk.pairs.get(account.account_id, [])
        own = policy.for_account(account.account_id)  # its overrides (SPEC §2, v2)
        decision = decide(own, account, account_pairs, window, (), day)
        if _only_figures_changed(decision, account, account_pairs, rows.stored_route(row), own):
            figures.append((account.account_id, decision.reason, decision.figures.to_json()))
        else:
            to_apply.append((account.account_id, window))
    return figures, to_apply


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for a stretch of code without ``await``: decoding
    and deciding a chunk makes hundreds of thousands of objects, none in a cycle, and each
    collection would walk them all again (measured: ~1/3 of the decode's time). Refcounting
    still frees them; no other task runs meanwhile, so nothing else is affected."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def _publish_general_entries(pool: asyncpg.Pool, accounts: Sequence[asyncpg.Record], day: date) -> int:
    """A General entry for each account without any, so that routers route it in its own
    region (SPEC §3 v2). Accounts get theirs when created; this covers those created
    here from imported history and those from before every account had one. Never
    replaces an entry written meanwhile (``publish_absent``)."""
    missing = [AccountRoute(r["account_id"], r["region"], "general", day, None) for r in accounts if r["route"] is None]
    published = 0
    for i in range(0, len(missing), FIGURES_BATCH):
        batch = missing[i : i + FIGURES_BATCH]
        try:
            async with pool.acquire() as conn, conn.transaction():
                await routing_store.publish_absent(conn, batch)
            published += len(batch)
        except asyncpg.PostgresError as exc:
            # The rest of the run does not depend on it; the next run tries again.
            log.error(
                "rebalance day=%s could not publish General routing entries accounts=%d first=%s: %s",
                day,
                len(batch),
                batch[0].account_id,
                exc,
            )
    if published:
        log.info("rebalance day=%s published General routing entries for %d accounts without one", day, published)
    return published


async def _ramp_general_pools(pool: asyncpg.Pool, policy: Policy, day: date) -> int:
    """SPEC rule 12 (v2): advance the general-pool IPs that are ramping in by the days they
    carried traffic, and republish each region whose general pool's weights changed (the
    weights: ``store.general_pool``). One transaction; returns how many regions were
    published."""
    first = day - timedelta(days=policy.history_window_days)
    async with pool.acquire() as conn, conn.transaction():
        ramped = await conn.fetch(queries.load()["worker_ramp_general_ips"], day, first, policy.warm_stage)
        published = await routing_store.publish_general_pools(conn)
    for r in ramped:
        log.info("general pool ip=%s day=%s stage=%s", r["address"], day, "warm" if r["stage"] is None else r["stage"])
    return published


def _phase(report: RebalanceReport, name: str, since: float) -> float:
    now = time.perf_counter()
    report.phases[name] = now - since
    return now


def _add_phase(report: RebalanceReport, name: str, since: float) -> float:
    """``_phase`` for a phase that recurs once per chunk: its seconds add up."""
    now = time.perf_counter()
    report.phases[name] = report.phases.get(name, 0.0) + now - since
    return now


def _only_figures_changed(
    decision: Decision,
    account: AccountState,
    pairs: Sequence[PairState],
    stored: AccountRoute | None,
    policy: Policy,
) -> bool:
    """True when storing ``decision`` would change nothing but figures and reason."""
    if decision.actions or decision.account != account or set(decision.pairs) != set(pairs):
        return False
    if _wants_ips(policy, decision):
        return False
    return not _route_changed(stored, decision)


def _wants_ips(policy: Policy, decision: Decision) -> bool:
    """The decision was made without inventory and would take IPs if there were some.
    ``policy`` is the account's own (``Policy.for_account``). The window's figures are the
    decision's (``compute_figures`` copies them from the ``WindowStats`` ``decide`` made):
    summarizing the window again cost ~6% of a run's Python time (py-spy, 100k)."""
    figures, account = decision.figures, decision.account
    if figures.required_ips <= figures.dedicated_ip_count or account.paused or account.mode == "frozen":
        return False
    if account.management_type != "general":
        return True
    stats = WindowStats(
        figures.volume_30d, figures.peak_daily_volume_30d, figures.active_days_30d, figures.expected_volume
    )
    return wants_pool(policy, account.mode, stats)


def _route_changed(stored: AccountRoute | None, decision: Decision) -> bool:
    """Routers need the new entry. An account in General without a dedicated pool needs
    none (routers send it through its region's general pool), so a new day alone does
    not republish the 100k General accounts; nor do ``hourly_burst`` and ``ip_capacity``,
    which pace and cap dedicated IPs such an entry does not have. A frozen account's
    entry stays as it is (rule 7): the routers go on routing it as before."""
    new = decision.route
    if decision.account.mode == "frozen":
        return False
    if stored is None:
        return new.management_type != "general" or bool(new.providers)
    if new.management_type == "general" and not new.providers:
        return replace(stored, day=new.day, hourly_burst=new.hourly_burst, ip_capacity=new.ip_capacity) != new
    return stored != new


async def _write_figures(pool: asyncpg.Pool, batch: list[tuple[str, str, str]], day: date) -> None:
    if not batch:
        return
    ids, reasons, figures = zip(*batch, strict=True)
    async with pool.acquire() as conn:
        await conn.execute(queries.load()["worker_update_figures"], list(ids), list(reasons), list(figures), day)
    batch.clear()


async def _apply_all(
    pool: asyncpg.Pool,
    policy: Policy,
    work: Sequence[tuple[str, Sequence[DayHistory]]],
    day: date,
    report: RebalanceReport,
    *,
    concurrency: int,
    stop: asyncio.Event,
) -> None:
    """Apply accounts on ``concurrency`` connections at once. Accounts are independent:
    each transaction locks its own row, claims inventory with SKIP LOCKED and takes the
    routing clock last, so they neither deadlock nor share an IP. Once ``stop`` is set,
    the transactions under way commit and no other begins. Each worker keeps its
    connection from one account to the next (a pool's release resets the session: a
    round trip per account saved), and takes a fresh one after a failure that closed it."""
    queue = iter(work)
    unreachable: list[BaseException] = []

    async def apply_from_queue() -> None:
        while not (stop.is_set() or unreachable):
            try:
                async with pool.acquire() as conn:
                    if await apply_on(conn):
                        return
            except UNREACHABLE as exc:  # PostgreSQL is away, not this account wrong: the run ends
                unreachable.append(exc)  # every next account would fail the same way

    async def apply_on(conn: asyncpg.Connection) -> bool:
        """Accounts from ``queue`` on ``conn``; False when ``conn`` closed under a failure."""
        for account_id, window in queue:
            if stop.is_set() or unreachable:
                return True
            try:
                await _apply_account(conn, policy, account_id, window, day, report)
                report.applied += 1
            except UNREACHABLE:
                raise
            except Exception:
                report.failed += 1
                log.exception("rebalance failed account=%s day=%s; its state is unchanged", account_id, day)
                if conn.is_closed():
                    return False
        return True

    await asyncio.gather(*(apply_from_queue() for _ in range(max(1, concurrency))))
    if unreachable:
        raise unreachable[0]


async def _apply_account(
    conn: asyncpg.Connection,
    policy: Policy,
    account_id: str,
    window: Sequence[DayHistory],
    day: date,
    report: RebalanceReport,
) -> None:
    """Decide ``account_id`` again under its row lock and store everything, atomically.
    ``policy`` is the run's; the account's own is taken here, as its mode is read here."""
    q = queries.load()
    async with conn.transaction():
        row = await conn.fetchrow(q["worker_lock_account"], account_id)
        if row is None:
            return  # deleted meanwhile
        policy = policy.for_account(account_id)
        ips = [rows.pool_ip(r) for r in await conn.fetch(q["worker_account_pool_ips"], account_id)]
        account = rows.account_state(row, ips)
        pairs = [rows.pair_state(r) for r in await conn.fetch(q["worker_account_pairs"], account_id)]
        decision = decide(policy, account, pairs, window, (), day)
        if _wants_ips(policy, decision):
            wanted = decision.figures.required_ips - decision.figures.dedicated_ip_count
            claimed = await conn.fetch(q["worker_claim_inventory"], account.region, wanted)
            if claimed:
                inventory = [r["address"] for r in claimed]
                decision = decide(policy, account, pairs, window, inventory, day)

        pool_id = decision.route.pool_id or account.pool_id or f"dedicated:{account_id}"
        for action in decision.actions:
            if isinstance(action, AssignIP):
                await conn.execute(q["worker_ensure_pool"], pool_id, account.region, account_id)
                await _exactly_one(conn, q["worker_assign_ip"], action.address, pool_id, day)
                report.ips_assigned += 1
            elif isinstance(action, StartDrain):
                await _exactly_one(conn, q["worker_start_drain"], action.address, pool_id, day)
                report.ips_drained += 1
            elif isinstance(action, ReleaseToQuarantine):
                await _exactly_one(conn, q["worker_release_ip"], action.address, pool_id, action.until)
                report.ips_quarantined += 1

        await conn.execute(q["worker_delete_pairs"], account_id)
        if decision.pairs:
            await conn.execute(
                q["worker_insert_pairs"],
                account_id,
                [p.address for p in decision.pairs],
                [p.provider for p in decision.pairs],
                [p.stage for p in decision.pairs],
                [p.evaluated_through for p in decision.pairs],
            )
        new = decision.account
        dedicated_on = None
        if new.management_type == "dedicated":
            dedicated_on = row["dedicated_on"] if account.management_type == "dedicated" else day
        await conn.execute(
            q["worker_update_account"],
            account_id,
            new.management_type,
            new.transition_started_on,
            dedicated_on,
            decision.reason,
            rows.policy_state_json(new),
            decision.figures.to_json(),
            day,
        )
        if _route_changed(rows.stored_route(row), decision):
            await routing_store.publish(conn, [decision.route])
            report.routes_published += 1
        await audit.record_all(conn, audit.REBALANCER, audit_events.decision_events(account, decision))
        for event in decision.events:
            log.info("warm-up %s account=%s day=%s", event, account_id, day)
        if account.management_type != new.management_type:
            log.info(
                "account=%s management_type %s -> %s: %s",
                account_id,
                account.management_type,
                new.management_type,
                decision.reason,
            )


async def _exactly_one(conn: asyncpg.Connection, sql: str, *args: object) -> None:
    status = await conn.execute(sql, *args)
    if status != "UPDATE 1":
        raise RuntimeError(f"expected to update one IP row, got {status!r} for {args!r}")
