"""The plain data the policy decides over: account state, warm-up pairs, history, actions.

Everything is a frozen dataclass: ``decide`` never mutates its inputs, and the caller
(the rebalancer with PostgreSQL, or the simulator in memory) stores what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from store.accounts import AccountMode
from store.reputation import NO_OUTCOMES as NO_OUTCOMES
from store.reputation import Outcomes as Outcomes
from store.routing_entry import ManagementType

#: The only moves of the management type (SPEC §2 rules 1, 4, 6).
ALLOWED_TRANSITIONS: frozenset[tuple[ManagementType, ManagementType]] = frozenset(
    {
        ("general", "transition"),
        ("transition", "dedicated"),
        ("transition", "general"),
        ("dedicated", "general"),
    }
)


@dataclass(frozen=True, slots=True)
class PoolIP:
    """One IP of an account's dedicated pool."""

    address: str
    assigned_on: date
    #: The day the IP started draining; ``None`` while it may carry traffic.
    draining_since: date | None = None

    @property
    def draining(self) -> bool:
        return self.draining_since is not None


@dataclass(frozen=True, slots=True)
class AccountState:
    """What the policy remembers about one account between runs."""

    account_id: str
    region: str
    management_type: ManagementType = "general"
    #: The day the account last entered Transition; ``None`` in General.
    transition_started_on: date | None = None
    #: Manual override (rule 7): stages and the pool are frozen; ``decide`` never changes it.
    paused: bool = False
    #: Manual override (rule 7, v2): how an operator pinned the account (``workers/policy/modes.py``);
    #: ``decide`` never changes it.
    mode: AccountMode = "auto"
    #: Identifier of the dedicated pool for the routing entry; the store may set its
    #: own, else ``default_pool_id(account_id)`` is used.
    pool_id: str | None = None
    #: The dedicated pool, in assignment order, Draining IPs included until released.
    ips: tuple[PoolIP, ...] = ()
    #: Consecutive days (counted at runs) on which fewer IPs were needed than the pool has.
    scale_in_streak: int = 0
    #: The last day the streak was brought up to date (makes a re-run a no-op).
    scale_in_checked_on: date | None = None


def default_pool_id(account_id: str) -> str:
    return f"dedicated:{account_id}"


@dataclass(frozen=True, slots=True)
class PairState:
    """Warm-up of one (IP, mailbox provider) pair (rule 2)."""

    address: str
    provider: str
    #: Index into the provider's schedule (``Policy.schedule_for``); its length means warm.
    stage: int = 0
    #: The last history day whose sending was applied to ``stage``. A run for day D
    #: applies the days after it and before D, so a re-run for D changes nothing.
    evaluated_through: date | None = None


@dataclass(frozen=True, slots=True)
class PairDay:
    """What one (IP, provider) pair of the account's dedicated pool did on one day."""

    sent: int
    outcomes: Outcomes = NO_OUTCOMES


@dataclass(frozen=True, slots=True)
class DayHistory:
    """One day of an account's history. A day the account did not send may be absent."""

    day: date
    #: Messages sent per mailbox provider, through any IP (general pool included).
    volume: Mapping[str, int]
    #: Per (address, provider) of its dedicated pool: what that pair sent, and outcomes.
    pairs: Mapping[tuple[str, str], PairDay] = field(default_factory=dict)
    #: Sum of ``volume``, computed once (every run reads it for every day of the window).
    total: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", sum(self.volume.values()))


@dataclass(frozen=True, slots=True)
class AssignIP:
    """Take ``address`` out of the region's inventory into the account's pool."""

    address: str


@dataclass(frozen=True, slots=True)
class StartDrain:
    """``address`` stops receiving new traffic (status Draining)."""

    address: str


@dataclass(frozen=True, slots=True)
class ReleaseToQuarantine:
    """``address`` leaves the pool; it returns to the inventory on ``until``."""

    address: str
    until: date


@dataclass(frozen=True, slots=True)
class ChangeManagementType:
    old: ManagementType
    new: ManagementType


Action = AssignIP | StartDrain | ReleaseToQuarantine | ChangeManagementType
