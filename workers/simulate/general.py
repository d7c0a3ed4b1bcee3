"""A region's general (shared) pool in the simulator: IPs added mid-scenario ramp in
(SPEC rule 12).

The weights are the routers' (``store.general_pool.general_weights``, what the rebalancer
publishes); the stage moves as the rebalancer's ``worker_ramp_general_ips`` query moves it:
one stage for each day the IP carried traffic, warm (``None``) past the schedule. The
query lives in SQL, so that one line of it is restated here (``advance``). The IPs a
scenario lists under ``general_pool`` are warm from the start; one added on a day starts at
stage 0 that day.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from store.general_pool import general_weights
from store.policy_settings import Policy


@dataclass(slots=True)
class GeneralPool:
    """One region's shared IPs, their ramp-in stages and what each carried yesterday."""

    addresses: list[str] = field(default_factory=list)
    #: Per address: its stage (``None``: warm).
    stages: list[int | None] = field(default_factory=list)
    #: Per address: messages it carried on the last simulated day.
    carried: list[int] = field(default_factory=list)

    def add(self, addresses: tuple[str, ...], warm: bool) -> None:
        for address in addresses:
            self.addresses.append(address)
            self.stages.append(None if warm else 0)
            self.carried.append(0)

    def advance(self, policy: Policy) -> None:
        """The rebalancer's run for a new day: each ramping IP that carried traffic the day
        before moves one stage; past ``warm_stage`` it is warm."""
        for i, stage in enumerate(self.stages):
            if stage is not None and self.carried[i] > 0:
                self.stages[i] = None if stage + 1 >= policy.warm_stage else stage + 1

    def weights(self, policy: Policy) -> tuple[float, ...]:
        """Each IP's share of the pool's traffic today (equal when ``general_weights`` says so)."""
        if not self.addresses:
            return ()
        weights = general_weights(self.stages, policy.warmup_schedule, policy.warmup_rules)
        return weights or (1.0 / len(self.addresses),) * len(self.addresses)

    def send(self, policy: Policy, messages: int) -> list[int]:
        """Spread the day's ``messages`` by today's weights (the rounding rest to the largest);
        returns what each IP carried."""
        weights = self.weights(policy)
        carried = [int(messages * w) for w in weights]
        if carried:
            carried[max(range(len(weights)), key=weights.__getitem__)] += messages - sum(carried)
        self.carried = carried
        return carried
