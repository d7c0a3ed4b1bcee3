"""What a rebalance decided, as audit events (``store/audit.py``, actor ``rebalancer``).

Pure: the policy says what happened (a ``Decision``'s actions and warm-up events), this
module only words it for the log, and the apply shell (``run.py``) records the events in
the account's transaction, so a run whose transaction fails leaves none.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from store.audit import Event
from workers.policy import AccountState, AssignIP, ChangeManagementType, Decision, ReleaseToQuarantine, StartDrain

#: The management type's moves, by (old, new).
_MOVES = {
    ("general", "transition"): "transition_started",
    ("transition", "dedicated"): "dedicated",
    ("transition", "general"): "back_to_general",
    ("dedicated", "general"): "back_to_general",
}
_VERDICTS = {"hold": "stage_hold", "step_back": "stage_step_back"}


def decision_events(before: AccountState, decision: Decision) -> list[Event]:
    """One event per change of the management type, per IP moved, per held or stepped-back
    pair-day; ``before`` is the account as the run found it."""
    account_id, reason = before.account_id, decision.reason
    events: list[Event] = []
    for action in decision.actions:
        if isinstance(action, ChangeManagementType):
            events.append(
                Event(
                    _MOVES[(action.old, action.new)],
                    account_id,
                    addresses=[ip.address for ip in decision.account.ips if not ip.draining],
                    before={"management_type": action.old},
                    after={"management_type": action.new},
                    reason=reason,
                )
            )
        elif isinstance(action, AssignIP):
            events.append(_ip(account_id, "ip_assigned", action.address, "free", "assigned", reason))
        elif isinstance(action, StartDrain):
            events.append(_ip(account_id, "ip_draining", action.address, "assigned", "draining", reason))
        elif isinstance(action, ReleaseToQuarantine):
            until = {"quarantine_until": action.until.isoformat()}
            events.append(_ip(account_id, "ip_quarantined", action.address, "draining", "quarantined", reason, until))
    for e in decision.events:
        if e.verdict in _VERDICTS:
            stage_before = e.stage + 1 if e.verdict == "step_back" else e.stage
            events.append(
                Event(
                    _VERDICTS[e.verdict],
                    account_id,
                    addresses=[e.address],
                    before={"provider": e.provider, "stage": stage_before},
                    after={"provider": e.provider, "stage": e.stage, "day": e.day.isoformat()},
                    reason=f"{e.address} for {e.provider} on {e.day.isoformat()}: {e.detail}",
                )
            )
    return events


def _ip(
    account_id: str, kind: str, address: str, was: str, now: str, reason: str, more: Mapping[str, Any] | None = None
) -> Event:
    return Event(
        kind, account_id, [address], before={"state": was}, after={"state": now, **(more or {})}, reason=reason
    )


def inventory_events(
    returned: Iterable[Mapping[str, str]], removed: Iterable[Mapping[str, str]], day: date
) -> list[Event]:
    """Quarantined IPs free again, and removed IPs gone once drained: one event per region
    and kind (rows of ``address`` and ``region``)."""
    events: list[Event] = []
    for kind, rows, was, now, why in (
        ("ip_returned", returned, "quarantined", "free", f"quarantine over on {day.isoformat()}: back in inventory"),
        ("ip_removed", removed, "draining", "removed", f"drained by {day.isoformat()}: removed (RemoveIPs)"),
    ):
        by_region: dict[str, list[str]] = defaultdict(list)
        for r in rows:
            by_region[r["region"]].append(r["address"])
        for region, addresses in sorted(by_region.items()):
            events.append(
                Event(
                    kind,
                    None,
                    addresses=addresses,
                    before={"state": was, "region": region},
                    after={"state": now, "region": region},
                    reason=why,
                )
            )
    return events
