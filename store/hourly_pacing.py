"""How much of a warming pair's daily limit is released by each UTC hour (SPEC §2 rule 10,
v2), one rule for the router and anything that replays it (the simulator).

Without pacing a pair's whole limit could go out in the first minutes after midnight UTC,
which is exactly the burst a provider reads as a spammer. With ``hourly_burst`` b, by the
end of UTC hour h (0..23) a pair may have sent at most
``min(limit, ceil(limit * (h + 1) * b / 24))``: b = 1 spreads the limit evenly over the
day, b = 2 (the default) lets a day run twice as fast as even, b = 24 releases everything
in hour 0, and b = 0 turns pacing off (the whole limit at once).

Pure and cheap: the router calls it for every pick on a limited pair.
"""

from __future__ import annotations

import math

HOURS_PER_DAY = 24

#: ``limit * (h + 1) * b / 24`` is computed in floating point, so a product that is an
#: integer (2400 at b = 1.1 in hour 10: 1210) can come out a hair above it (1210.0000000000002)
#: and ``ceil`` would release one pick more than the rule says. Shrinking it by this
#: relative amount first removes that noise; it is far below one pick for any real limit.
_ROUNDING = 1.0 - 1e-12


def paced_limit(limit: int, hour: int, hourly_burst: float) -> int:
    """The part of ``limit`` a pair may have used by the end of UTC ``hour`` (0..23).

    Never above ``limit``; never below in hour 23 when ``hourly_burst`` >= 1; the whole
    ``limit`` when ``hourly_burst`` is 0 (pacing off) or less.
    """
    if hourly_burst <= 0:
        return limit
    released = math.ceil(limit * (hour + 1) * hourly_burst / HOURS_PER_DAY * _ROUNDING)
    return released if released < limit else limit
