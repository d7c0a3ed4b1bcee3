"""A day's delivery outcomes and what they say about a sender's reputation (SPEC §2's
reputation thresholds), one rule for the rebalancer's next-day verdict (rule 2) and the
routers' same-day breaker (rule 11, ``store/breaker.py``).

Rates are fractions of ``Outcomes.total``. A throttled delivery (SMTP 421 or 4.7.x: the
provider asks us to slow down) is in none of them: throttling rests a pair for
``throttle_pause_minutes`` only (rule 11), it is no verdict on the day's reputation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from store.policy_settings import Policy

Verdict = Literal["advance", "hold", "step_back"]


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Delivery outcomes the MTAs reported for one pair and day."""

    delivered: int = 0
    deferred: int = 0
    bounced: int = 0
    complained: int = 0
    #: Kept apart from the rates (module docstring).
    throttled: int = 0

    @property
    def total(self) -> int:
        """The denominator of every rate: messages with a reported result.

        Complaints are a subset of delivered mail, so they are not added again.
        """
        return self.delivered + self.deferred + self.bounced


NO_OUTCOMES = Outcomes()


def judge(policy: Policy, outcomes: Outcomes) -> tuple[Verdict, str]:
    """What a day's outcomes do to a pair's stage, and which threshold decided it
    (e.g. ``bounce 7.1% ≥ 5%``). A day without reported outcomes advances."""
    total = outcomes.total
    if total <= 0:
        return "advance", ""
    bounce = outcomes.bounced / total
    complaint = outcomes.complained / total
    deferral = outcomes.deferred / total
    if bounce >= policy.step_back_bounce_rate:
        return "step_back", _over("bounce", bounce, policy.step_back_bounce_rate)
    if complaint >= policy.step_back_complaint_rate:
        return "step_back", _over("complaint", complaint, policy.step_back_complaint_rate)
    if bounce >= policy.hold_bounce_rate:
        return "hold", _over("bounce", bounce, policy.hold_bounce_rate)
    if complaint >= policy.hold_complaint_rate:
        return "hold", _over("complaint", complaint, policy.hold_complaint_rate)
    if deferral >= policy.hold_deferral_rate:
        return "hold", _over("deferral", deferral, policy.hold_deferral_rate)
    return "advance", ""


def percent(fraction: float) -> str:
    """``0.071`` → ``7.1%``; ``0.001`` → ``0.1%`` (no trailing zeros)."""
    return f"{fraction * 100:.2f}".rstrip("0").rstrip(".") + "%"


def _over(name: str, rate: float, threshold: float) -> str:
    return f"{name} {percent(rate)} ≥ {percent(threshold)}"
