"""The pick with its bookkeeping: the table lookup, the pure ``pick``, today's limit
counters and the history buffer. This is the whole hot path behind every door.

``choose`` answers with a plain ``Answer`` tuple; each door writes it in its own
format (``select`` as the gRPC response, the HTTP door as JSON, the MTA doors as an
IP). One engine per router process: a pick is counted once, whichever door it came in by,
and the same message asked again within ten minutes without ``retry`` gets the answer it
got the first time and is not counted again (SPEC §3 v2; ``repeats``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from sendingip.v1 import router_pb2, types_pb2
from server.router.history_buffer import HistoryBuffer
from server.router.limits import SECONDS_PER_HOUR, DailyLimits
from server.router.pick import draw_keyed, pick
from server.router.repeats import MAX_PICKS, RecentPicks
from server.router.table import RoutingTable

_GENERAL = types_pb2.MANAGEMENT_TYPE_GENERAL


class NotLoaded(RuntimeError):
    """No routing table yet (SPEC: the one case for UNAVAILABLE)."""

    def __init__(self) -> None:
        super().__init__("the router has not loaded a routing table yet; retry shortly")


class Answer(NamedTuple):
    """One pick, as every door reports it (the fields of SelectSendingIPResponse)."""

    ip: str
    pool_id: str
    pool_type: int  # types_pb2.PoolType
    management_type: int  # types_pb2.ManagementType
    mailbox_provider: str
    routing_version: int
    overflow: bool


def response(a: Answer) -> router_pb2.SelectSendingIPResponse:
    """An ``Answer`` as the gRPC response."""
    return router_pb2.SelectSendingIPResponse(
        ip=a.ip,
        pool_id=a.pool_id,
        pool_type=a.pool_type,  # type: ignore[arg-type]
        management_type=a.management_type,  # type: ignore[arg-type]
        mailbox_provider=a.mailbox_provider,
        routing_version=a.routing_version,
        overflow=a.overflow,
    )


class Engine:
    def __init__(
        self,
        table: RoutingTable,
        limits: DailyLimits,
        history: HistoryBuffer,
        *,
        default_region: str,
        clock: Callable[[], float] = time.time,
        repeat_window_picks: int = MAX_PICKS,
    ) -> None:
        self.table = table
        self.limits = limits
        self.history = history
        self.default_region = default_region
        self.clock = clock
        #: Counted picks by types_pb2.PoolType value, overflowed picks, retries and repeats
        #: (both uncounted).
        self.picks = [0, 0, 0]
        self.overflows = 0
        self.retries = 0
        self.repeats = 0
        self.recent: RecentPicks[Answer] = RecentPicks(repeat_window_picks)

    def select(self, request: router_pb2.SelectSendingIPRequest, provider: str) -> router_pb2.SelectSendingIPResponse:
        """``choose`` for a gRPC request, as the gRPC response (tests and the in-process bench)."""
        return response(self.choose(request.account_id, request.message_id, request.region, provider, request.retry))

    def choose(self, account_id: str, message_id: str, region: str, provider: str, retry: bool) -> Answer:
        """Answer one validated request; ``NoGeneralPool`` when there is nowhere to send."""
        table = self.table
        if not table.loaded:
            raise NotLoaded
        u, k, digest = draw_keyed(account_id, message_id)
        now = self.clock()
        if retry:
            self.retries += 1
            return self._pick(table, account_id, region, provider, u, k, now, count=False)
        # A message with recipients at two providers is two deliveries: the provider is part
        # of the key (its hash is cached in the str and stable within this process).
        key = digest ^ hash(provider)
        recent = self.recent
        seen = recent.seen(key, now)
        if seen is not None:
            self.repeats += 1
            return seen
        return recent.remember(key, self._pick(table, account_id, region, provider, u, k, now, count=True))

    def _pick(
        self,
        table: RoutingTable,
        account_id: str,
        region: str,
        provider: str,
        u: float,
        k: int,
        now: float,
        *,
        count: bool,
    ) -> Answer:
        """The pick, counted into today's limits and the history when ``count``."""
        account = table.accounts.get(account_id)
        region_name = account.region if account is not None else region or self.default_region
        general = table.regions.get(region_name)
        limits = self.limits
        hours = int(now // SECONDS_PER_HOUR)
        if hours != limits.hours:  # a new UTC hour: its paced limits, maybe a new day (rules 8, 10)
            limits.advance(hours)
        day = limits.day
        choice = pick(account, general, region_name, provider, u, k, limits.headroom, limits.room)
        if count:
            if choice.limit is not None or choice.capacity is not None:
                limits.count(choice.ip, provider, choice.limit, choice.hourly_burst, choice.capacity)
            self.history.add((day, account_id, choice.ip, provider))
            if account is None:
                self.history.unknown_account(account_id, region_name)
            self.picks[choice.pool_type] += 1
            if choice.overflow:
                self.overflows += 1
        version = general.version if general is not None else 0
        if account is None:
            return Answer(choice.ip, choice.pool_id, choice.pool_type, _GENERAL, provider, version, choice.overflow)
        if account.version > version:
            version = account.version
        return Answer(
            choice.ip, choice.pool_id, choice.pool_type, account.management_type, provider, version, choice.overflow
        )
