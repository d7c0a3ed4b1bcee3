"""The policy of SPEC §2 as pure functions over plain frozen dataclasses.

The one entry point is ``decide(policy, account, pairs, window, inventory, day)``; the
rest is exported for the rebalancer, the simulator and the tests. No I/O, no clock: the
day decided for is an argument. Rates and shares are fractions; ``*_percent`` figures
are 0-100.
"""

from store.account_figures import AccountFigures, IPFigures, IpStatus
from store.policy_settings import (
    DEFAULT_MAILBOX_PROVIDERS,
    DEFAULT_WARMUP_SCHEDULE,
    POLICY_FIELDS,
    Policy,
    policy_from_mapping,
    policy_to_mapping,
)
from workers.policy.decide import Decision, decide
from workers.policy.model import (
    ALLOWED_TRANSITIONS,
    AccountState,
    Action,
    AssignIP,
    ChangeManagementType,
    DayHistory,
    Outcomes,
    PairDay,
    PairState,
    PoolIP,
    ReleaseToQuarantine,
    StartDrain,
    default_pool_id,
)
from workers.policy.sizing import required_ips
from workers.policy.split import pair_limit, plan_routes, provider_caps
from workers.policy.warmup import PairEvent, judge_day, longest_warm_stage, stage_limit, warm_stage
from workers.policy.window import WindowStats, days_in_window, summarize

__all__ = [
    "ALLOWED_TRANSITIONS",
    "DEFAULT_MAILBOX_PROVIDERS",
    "DEFAULT_WARMUP_SCHEDULE",
    "POLICY_FIELDS",
    "AccountFigures",
    "AccountState",
    "Action",
    "AssignIP",
    "ChangeManagementType",
    "DayHistory",
    "Decision",
    "IPFigures",
    "IpStatus",
    "Outcomes",
    "PairDay",
    "PairEvent",
    "PairState",
    "Policy",
    "PoolIP",
    "ReleaseToQuarantine",
    "StartDrain",
    "WindowStats",
    "days_in_window",
    "decide",
    "default_pool_id",
    "judge_day",
    "longest_warm_stage",
    "pair_limit",
    "plan_routes",
    "policy_from_mapping",
    "policy_to_mapping",
    "provider_caps",
    "required_ips",
    "stage_limit",
    "summarize",
    "warm_stage",
]
