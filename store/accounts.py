"""What an account is to every layer: the rule of its id and its management modes (rule 7).

Both live in ``store`` because the policy (an account's override, ``store.policy_limits``),
the accounts table (its CHECKs say the same), the Management API (server/validate.py) and
the rebalancer all check them, and ``store`` is the one layer all of them build on.
"""

from __future__ import annotations

import re
from typing import Literal

#: An account id (SPEC §3 "Errors"): 1-128 characters of ``[A-Za-z0-9._:@-]``.
ACCOUNT_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")

#: How an operator has pinned an account (SPEC §2 rule 7, v2): ``auto`` (the thresholds
#: decide; the default), ``general`` (never dedicated), ``dedicated`` (dedicated whatever
#: the thresholds say) or ``frozen`` (the rebalancer leaves it alone).
AccountMode = Literal["auto", "general", "dedicated", "frozen"]
ACCOUNT_MODES: tuple[AccountMode, ...] = ("auto", "general", "dedicated", "frozen")


def account_mode(value: str) -> AccountMode:
    """``value`` as an ``AccountMode``; ``ValueError`` names the modes otherwise."""
    for mode in ACCOUNT_MODES:
        if value == mode:
            return mode
    raise ValueError(f"must be one of {', '.join(ACCOUNT_MODES)}, got {value!r}")
