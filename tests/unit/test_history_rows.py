"""A flush's rows and its statement's arrays, built the cheap way but in the same order
(the order every flush locks rows in)."""

from __future__ import annotations

import random

from server.router.history_buffer import Key, day_of, sorted_rows
from server.router.history_flusher import columns


def _keys(n: int) -> list[Key]:
    rng = random.Random(16)
    return [
        (20_000 + rng.randrange(2), f"acct-{rng.randrange(50)}", f"10.0.{i // 256}.{i % 256}", "gmail")
        for i in range(n)
    ]


def test_rows_are_in_key_order_as_before() -> None:
    counts = {key: i % 7 + 1 for i, key in enumerate(_keys(500))}
    assert sorted_rows(counts) == sorted(counts.items())


def test_columns_match_the_rows_one_by_one() -> None:
    rows = sorted_rows({key: i + 1 for i, key in enumerate(_keys(300))})
    days, accounts, ips, providers, counts = columns(rows)
    assert days == [day_of(key[0]) for key, _ in rows]
    assert (accounts, ips, providers) == ([k[1] for k, _ in rows], [k[2] for k, _ in rows], [k[3] for k, _ in rows])
    assert counts == [n for _, n in rows]
    assert columns([]) == ([], [], [], [], [])
