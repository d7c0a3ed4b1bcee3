"""The account page's warm-up charts: the last ``WINDOW_DAYS`` of history per mailbox
provider and today's limits, read from PostgreSQL (``store/queries/console.sql``).

No Management call returns a daily series, so this one read is the console's own. It runs
only after the page's ``GetAccount`` call allowed the caller to view the account: access is
still decided by the servicer, this module only reads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta

import asyncpg

from server.console.chart import ProviderSeries
from store import queries

#: Days the charts cover, today included.
WINDOW_DAYS = 60


def series(
    today: date, history: Sequence[tuple[date, str, int, int]], limits: dict[str, int | None], providers: Sequence[str]
) -> list[ProviderSeries]:
    """One series per provider that was sent mail in the window (the policy's providers
    first, then any other), every day of the window present (0 when nothing was sent). Pure."""
    days = [today - timedelta(days=WINDOW_DAYS - 1 - i) for i in range(WINDOW_DAYS)]
    index = {d: i for i, d in enumerate(days)}
    dedicated: dict[str, list[int]] = defaultdict(lambda: [0] * WINDOW_DAYS)
    total: dict[str, list[int]] = defaultdict(lambda: [0] * WINDOW_DAYS)
    for day, provider, sent_dedicated, sent in history:
        i = index.get(day)
        if i is not None:
            dedicated[provider][i] = sent_dedicated
            total[provider][i] = sent
    mailed = {p for p, counts in total.items() if any(counts)}  # rows of zeros are not mail
    names = [p for p in providers if p in mailed] + sorted(mailed - set(providers))
    return [ProviderSeries(p, days, dedicated[p], total[p], limits.get(p)) for p in names]


async def load(conn: asyncpg.Connection, account_id: str, today: date) -> list[ProviderSeries]:
    q = queries.load()
    first = today - timedelta(days=WINDOW_DAYS - 1)
    rows = await conn.fetch(q["console_provider_history"], account_id, first, today)
    limit_rows = await conn.fetch(q["console_warmup_limits"], account_id)
    providers = await conn.fetchval(q["mgmt_mailbox_providers"])
    history = [(r["day"], r["mailbox_provider"], r["dedicated"], r["total"]) for r in rows]
    limits = {r["mailbox_provider"]: r["limit_today"] for r in limit_rows}
    return series(today, history, limits, list(providers or ()))
