"""Every page of a listing call (ListAccounts, ListIPs): the commands show all, or ``--limit``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def every_page(fetch: Callable[[int, str], tuple[Sequence[T], str]], page_size: int, limit: int = 0) -> list[T]:
    """Items of the pages ``fetch(size, token)`` returns with the next token ('' after the
    last), until the last page or ``limit`` items (0: no limit)."""
    found: list[T] = []
    token = ""
    while True:
        items, token = fetch(page_size if not limit else min(page_size, limit - len(found)), token)
        found.extend(items)
        if not token or (limit and len(found) >= limit):
            return found


def page_of(response: Any, field: str) -> tuple[Sequence[Any], str]:
    """A response's items (its repeated ``field``) and next page token."""
    return getattr(response, field), response.next_page_token
