"""Database rows as the policy's plain data, and the policy's results as row values."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import date
from typing import Any

from store.accounts import account_mode
from store.routing_entry import AccountRoute
from workers.policy import AccountState, DayHistory, Outcomes, PairDay, PairState, PoolIP

OutcomeKey = tuple[str, date, str, str]  # account, day, ip, provider


def account_state(row: Mapping[str, Any], ips: Sequence[PoolIP]) -> AccountState:
    state = json.loads(row["policy_state"] or "{}")
    checked = state.get("scale_in_checked_on")
    return AccountState(
        account_id=row["account_id"],
        region=row["region"],
        management_type=row["management_type"],
        transition_started_on=row["transition_started_on"],
        paused=row["warmup_paused"],
        mode=account_mode(row["mode"]),
        pool_id=row["pool_id"],
        ips=tuple(ips),
        scale_in_streak=int(state.get("scale_in_streak", 0)),
        scale_in_checked_on=date.fromisoformat(checked) if checked else None,
    )


def policy_state_json(account: AccountState) -> str:
    checked = account.scale_in_checked_on
    return json.dumps(
        {
            "scale_in_streak": account.scale_in_streak,
            "scale_in_checked_on": checked.isoformat() if checked else None,
        },
        separators=(",", ":"),
    )


def pool_ip(row: Mapping[str, Any]) -> PoolIP:
    return PoolIP(row["address"], row["assigned_on"], row["drain_started_on"])


def pair_state(row: Mapping[str, Any]) -> PairState:
    return PairState(row["address"], row["mailbox_provider"], row["stage"], row["last_evaluated_on"])


def stored_route(row: Mapping[str, Any]) -> AccountRoute | None:
    text = row["route"]
    return AccountRoute.from_json(text) if text else None


def index_outcomes(rows: Iterable[Mapping[str, Any]], account_id: str | None = None) -> dict[OutcomeKey, Outcomes]:
    found: dict[OutcomeKey, Outcomes] = {}
    for r in rows:
        key = (account_id or r["account_id"], r["day"], r["ip"], r["mailbox_provider"])
        found[key] = Outcomes(r["delivered"], r["deferred"], r["bounced"], r["complained"], r["throttled"])
    return found


def window(
    account_id: str,
    days: Sequence[int],
    providers: Sequence[str],
    ips: Sequence[str],
    sent: Sequence[int],
    outcomes: Mapping[OutcomeKey, Outcomes],
    calendar: Sequence[date],
) -> list[DayHistory]:
    """One account's history rows (parallel arrays, each day as its offset in ``calendar``,
    the window's days) as ``DayHistory`` per day, oldest first (``days_in_window`` then
    need not sort). The run builds one per account-day, millions: hence the plain loop."""
    volume: list[dict[str, int] | None] = [None] * len(calendar)
    pairs: dict[int, dict[tuple[str, str], PairDay]] = {}
    for offset, provider, ip, count in zip(days, providers, ips, sent, strict=True):
        by_provider = volume[offset]
        if by_provider is None:
            volume[offset] = {provider: count}
        else:
            by_provider[provider] = by_provider.get(provider, 0) + count
        if ip:
            found = outcomes.get((account_id, calendar[offset], ip, provider))
            pairs.setdefault(offset, {})[(ip, provider)] = PairDay(count, found) if found else PairDay(count)
    if not pairs:
        return [_day_history(calendar[i], v, {}) for i, v in enumerate(volume) if v is not None]
    return [_day_history(calendar[i], v, pairs.get(i, {})) for i, v in enumerate(volume) if v is not None]


# ``DayHistory(day, volume, pairs)`` without the frozen dataclass's ``__init__`` (which sets
# each field through ``object.__setattr__``, then sums in ``__post_init__``): its slots are
# set directly, the same values. A third of the window's decoding, three million times a
# run at 100k accounts. The fields are checked here, so a new one cannot be left unset.
_DAY_HISTORY_FIELDS = ("day", "volume", "pairs", "total")
if tuple(f.name for f in fields(DayHistory)) != _DAY_HISTORY_FIELDS:  # pragma: no cover
    raise ImportError(f"DayHistory's fields changed: update rows._day_history for {fields(DayHistory)}")
_new_day_history = DayHistory.__new__
_set_day, _set_volume, _set_pairs, _set_total = (getattr(DayHistory, n).__set__ for n in _DAY_HISTORY_FIELDS)


def _day_history(day: date, volume: dict[str, int], pairs: dict[tuple[str, str], PairDay]) -> DayHistory:
    h = _new_day_history(DayHistory)
    _set_day(h, day)
    _set_volume(h, volume)
    _set_pairs(h, pairs)
    _set_total(h, sum(volume.values()))
    return h
