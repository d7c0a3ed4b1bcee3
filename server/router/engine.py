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
from collections.abc import Callable, Iterable
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


#: A validated request as ``Engine.choose_all`` takes it: (account_id, message_id, region,
#: mailbox provider, retry).
Request = tuple[str, str, str, str, bool]


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


def batch_response(answers: Iterable[Answer]) -> router_pb2.SelectSendingIPBatchResponse:
    """``Answer``s as the gRPC batch response, each written in place (``responses.add``):
    a ``SelectSendingIPResponse`` per answer handed to the batch's constructor would be
    built, then copied."""
    batch = router_pb2.SelectSendingIPBatchResponse()
    add = batch.responses.add
    for ip, pool_id, pool_type, management_type, provider, version, overflow in answers:
        add(
            ip=ip,
            pool_id=pool_id,
            pool_type=pool_type,
            management_type=management_type,
            mailbox_provider=provider,
            routing_version=version,
            overflow=overflow,
        )
    return batch


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
        return self.choose_all(((account_id, message_id, region, provider, retry),))[0]

    def choose_all(self, requests: Iterable[Request]) -> list[Answer]:
        """``choose`` for each validated request, in order, at one reading of the clock (a batch
        is answered at one moment). One loop for one request or a thousand: what does not
        change from one pick to the next (the clock, the hour, the table's dicts, the bound
        methods) is looked up once, which is most of what a batch saves per pick."""
        table = self.table
        if not table.loaded:
            raise NotLoaded
        now = self.clock()
        limits = self.limits
        hours = int(now // SECONDS_PER_HOUR)
        if hours != limits.hours:  # a new UTC hour: its paced limits, maybe a new day (rules 8, 10)
            limits.advance(hours)
        day = limits.day
        headroom, room, count = limits.headroom, limits.room, limits.count
        accounts, regions, default_region = table.accounts, table.regions, self.default_region
        seen, remember = self.recent.seen, self.recent.remember
        history = self.history
        add_history = history.add
        counted = self.picks
        new_tuple = tuple.__new__
        answers: list[Answer] = []
        append = answers.append
        for account_id, message_id, region, provider, retry in requests:
            u, k, digest = draw_keyed(account_id, message_id)
            # A message with recipients at two providers is two deliveries: the provider is part
            # of the key (its hash is cached in the str and stable within this process).
            key = digest ^ hash(provider)
            if retry:
                self.retries += 1
            else:
                repeat = seen(key, now)
                if repeat is not None:
                    self.repeats += 1
                    append(repeat)
                    continue
            account = accounts.get(account_id)
            region_name = account.region if account is not None else region or default_region
            general = regions.get(region_name)
            ip, pool_id, pool_type, overflow, limit, burst, capacity = pick(
                account, general, region_name, provider, u, k, headroom, room
            )
            if not retry:  # counted into today's limits and the history
                if limit is not None or capacity is not None:
                    count(ip, provider, limit, burst, capacity)
                add_history((day, account_id, ip, provider))
                if account is None:
                    history.unknown_account(account_id, region_name)
                counted[pool_type] += 1
                if overflow:
                    self.overflows += 1
            version = general.version if general is not None else 0
            management_type: int
            if account is None:
                management_type = _GENERAL
            else:
                management_type = account.management_type
                if account.version > version:
                    version = account.version
            # (``Answer(…)`` is a Python-level __new__: the tuple's own is a third cheaper)
            answer = new_tuple(Answer, (ip, pool_id, pool_type, management_type, provider, version, overflow))
            append(answer if retry else remember(key, answer))
        return answers
