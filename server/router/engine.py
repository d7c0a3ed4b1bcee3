"""The pick with its bookkeeping: the table lookup, the pure ``pick``, today's limit
counters and the history buffer. This is the whole hot path behind the servicer.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sendingip.v1 import router_pb2, types_pb2
from server.router.history import HistoryBuffer
from server.router.limits import SECONDS_PER_DAY, DailyLimits
from server.router.pick import draw, pick
from server.router.table import RoutingTable


class NotLoaded(RuntimeError):
    """No routing table yet (SPEC: the one case for UNAVAILABLE)."""

    def __init__(self) -> None:
        super().__init__("the router has not loaded a routing table yet; retry shortly")


class Engine:
    def __init__(
        self,
        table: RoutingTable,
        limits: DailyLimits,
        history: HistoryBuffer,
        *,
        default_region: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.limits = limits
        self.history = history
        self.default_region = default_region
        self.clock = clock
        #: Counted picks by types_pb2.PoolType value, overflowed picks, retries (uncounted).
        self.picks = [0, 0, 0]
        self.overflows = 0
        self.retries = 0

    def select(self, request: router_pb2.SelectSendingIPRequest, provider: str) -> router_pb2.SelectSendingIPResponse:
        """Answer one validated request; ``NoGeneralPool`` when there is nowhere to send."""
        table = self.table
        if not table.loaded:
            raise NotLoaded
        account_id = request.account_id
        account = table.accounts.get(account_id)
        region_name = account.region if account is not None else request.region or self.default_region
        region = table.regions.get(region_name)
        u, k = draw(account_id, request.message_id)
        limits = self.limits
        day = int(self.clock() // SECONDS_PER_DAY)
        if day != limits.day:
            limits.roll(day)
        choice = pick(account, region, region_name, provider, u, k, limits.headroom)
        if request.retry:
            self.retries += 1
        else:
            if choice.limit is not None:
                limits.count(choice.ip, provider, choice.limit)
            self.history.add((day, account_id, choice.ip, provider))
            if account is None:
                self.history.unknown_account(account_id, region_name)
            self.picks[choice.pool_type] += 1
            if choice.overflow:
                self.overflows += 1
        version = region.version if region is not None else 0
        if account is not None and account.version > version:
            version = account.version
        return router_pb2.SelectSendingIPResponse(
            ip=choice.ip,
            pool_id=choice.pool_id,
            pool_type=choice.pool_type,  # type: ignore[arg-type]
            management_type=(
                account.management_type if account is not None else types_pb2.MANAGEMENT_TYPE_GENERAL  # type: ignore[arg-type]
            ),
            mailbox_provider=provider,
            routing_version=version,
            overflow=choice.overflow,
        )
