"""``store.overflow``: SPEC rule 8, the one rule the router and the simulator apply."""

from __future__ import annotations

import pytest

from store.overflow import Overflow, overflow_to, overflows_within_pool


def test_only_a_dedicated_account_keeps_overflow_in_its_pool() -> None:
    assert [overflows_within_pool(t) for t in ("general", "transition", "dedicated")] == [False, False, True]


@pytest.mark.parametrize(
    ("within_pool", "pool_has_room", "has_general_pool", "expected"),
    [
        (True, True, True, "pool"),
        (True, True, False, "pool"),
        (True, False, True, "general"),
        (False, True, True, "general"),  # Transition: straight to the general pool
        (False, False, False, "over_limit"),  # never refused: the full pair carries it
        (True, False, False, "over_limit"),
    ],
)
def test_where_a_full_pairs_mail_goes(
    within_pool: bool, pool_has_room: bool, has_general_pool: bool, expected: Overflow
) -> None:
    assert overflow_to(within_pool, pool_has_room, has_general_pool) == expected
