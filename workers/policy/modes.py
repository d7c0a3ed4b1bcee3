"""Rule 7 (v2): the modes an operator pins an account to, as the two questions rules 1 and 6 ask.

``auto`` leaves both to the thresholds (with the account's own overrides, through
``Policy.for_account``); ``general`` answers no to both, so an account in Transition or
Dedicated returns to General and drains; ``dedicated`` answers yes to both, whatever the
volume and the active days. ``frozen`` asks neither: ``decide`` leaves such an account as it
is before these questions come up. Kept apart from ``sizing`` (the thresholds themselves)
so that the override of an operator reads in one place.
"""

from __future__ import annotations

from store.accounts import AccountMode
from store.policy_settings import Policy
from workers.policy.sizing import below_general_threshold, qualifies_for_pool
from workers.policy.window import WindowStats

#: The sentence a frozen account's ``reason`` opens with.
FROZEN = "frozen by an operator: stages, pool, management type and routing stay as they are"


def wants_pool(policy: Policy, mode: AccountMode, stats: WindowStats) -> bool:
    """Rule 1 under rule 7: should an account in General get a dedicated pool now?"""
    if mode == "dedicated":
        return True
    return mode == "auto" and qualifies_for_pool(policy, stats)


def keeps_pool(policy: Policy, mode: AccountMode, stats: WindowStats) -> bool:
    """Rule 6 under rule 7: may an account in Transition or Dedicated keep its pool?"""
    if mode == "dedicated":
        return True
    return mode != "general" and not below_general_threshold(policy, stats)
