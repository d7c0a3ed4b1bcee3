"""Budget leasing without PostgreSQL, for the unit and property tests of the routers' limits.

``MemoryLeases`` keeps what ``router_lease_grant`` and ``router_lease_give_back`` keep (one
budget per (day, IP, provider), one lease per router) with the same rule: a grant never takes
a budget past the cap it is asked under. ``run_now`` runs a lease coroutine that never waits
(this store never does), so a synchronous test can drive ``LeaseManager`` between picks.
"""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from server.router.leases import Ask, Back, LeaseKey

T = TypeVar("T")


class MemoryLeases:
    def __init__(self) -> None:
        #: (day, ip, provider) -> picks leased to all routers.
        self.budgets: dict[tuple[int, str, str], int] = {}
        #: (day, router_id, ip, provider) -> picks leased to that router.
        self.leases: dict[tuple[int, str, str, str], int] = {}
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise OSError("the lease store is down")

    async def grant(self, day: int, router_id: str, asks: Sequence[Ask]) -> dict[LeaseKey, int]:
        self._check()
        granted: dict[LeaseKey, int] = {}
        for ask in asks:
            budget = (day, ask.ip, ask.provider)
            leased = self.budgets.get(budget, 0)
            n = min(ask.want, ask.cap - leased)
            if n <= 0:
                continue
            self.budgets[budget] = leased + n
            lease = (day, router_id, ask.ip, ask.provider)
            self.leases[lease] = self.leases.get(lease, 0) + n
            granted[(ask.ip, ask.provider)] = n
        return granted

    async def give_back(self, day: int, router_id: str, backs: Sequence[Back]) -> None:
        self._check()
        for back in backs:
            lease = (day, router_id, back.ip, back.provider)
            if self.leases.get(lease, 0) >= back.back:
                self.leases[lease] -= back.back
                self.budgets[(day, back.ip, back.provider)] -= back.back

    async def held(self, day: int, router_id: str) -> list[tuple[str, str, int]]:
        self._check()
        return [(ip, provider, n) for (d, r, ip, provider), n in self.leases.items() if d == day and r == router_id]


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """The result of ``coro``, which must finish without waiting."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("the coroutine waited; run_now is for a MemoryLeases round")
