"""The rebalancer's decisions worded as audit events (workers/rebalance/audit_events.py):
one event per management-type move, per IP moved and per held or stepped-back pair-day."""

from __future__ import annotations

import dataclasses
from datetime import date

from store import audit
from workers.policy import (
    AccountState,
    AssignIP,
    ChangeManagementType,
    PairEvent,
    Policy,
    ReleaseToQuarantine,
    StartDrain,
    decide,
)
from workers.rebalance.audit_events import decision_events, inventory_events

D0 = date(2026, 3, 1)


def test_every_action_and_warm_up_event_is_one_audit_event_of_a_known_kind() -> None:
    account = AccountState("acme", "us-east", management_type="transition", transition_started_on=D0)
    decision = dataclasses.replace(
        decide(Policy(), account, (), (), (), D0),
        actions=(
            AssignIP("203.0.113.1"),
            StartDrain("203.0.113.2"),
            ReleaseToQuarantine("203.0.113.3", date(2026, 3, 31)),
            ChangeManagementType("transition", "general"),
        ),
        events=(
            PairEvent("203.0.113.1", "google", date(2026, 2, 28), "hold", "bounce 3.0% ≥ 2%", 4),
            PairEvent("203.0.113.1", "yahoo", date(2026, 2, 28), "step_back", "bounce 7.1% ≥ 5%", 2),
        ),
    )
    events = decision_events(account, decision)
    assert [e.kind for e in events] == [
        "ip_assigned",
        "ip_draining",
        "ip_quarantined",
        "back_to_general",
        "stage_hold",
        "stage_step_back",
    ]
    assert all(audit.known_kind(e.kind) and e.account_id == "acme" for e in events)
    assert events[2].after == {"state": "quarantined", "quarantine_until": "2026-03-31"}
    assert (events[3].before, events[3].after) == ({"management_type": "transition"}, {"management_type": "general"})
    assert (events[4].before, events[4].after) == (
        {"provider": "google", "stage": 4},
        {"provider": "google", "stage": 4, "day": "2026-02-28"},
    )
    assert (events[5].before, events[5].after) == (
        {"provider": "yahoo", "stage": 3},
        {"provider": "yahoo", "stage": 2, "day": "2026-02-28"},
    )
    assert events[5].reason == "203.0.113.1 for yahoo on 2026-02-28: bounce 7.1% ≥ 5%"


def test_an_unchanged_decision_is_no_event() -> None:
    account = AccountState("acme", "us-east")
    assert decision_events(account, decide(Policy(), account, (), (), (), D0)) == []


def test_inventory_moves_are_one_event_per_region_and_kind() -> None:
    events = inventory_events(
        [{"address": "203.0.113.1", "region": "us-east"}, {"address": "203.0.113.2", "region": "us-east"}],
        [{"address": "198.51.100.9", "region": "eu-west"}],
        D0,
    )
    assert [(e.kind, e.account_id, list(e.addresses)) for e in events] == [
        ("ip_returned", None, ["203.0.113.1", "203.0.113.2"]),
        ("ip_removed", None, ["198.51.100.9"]),
    ]
