"""One metrics endpoint for a cluster (``serve --processes N``): the members' metrics, summed.

Each member exposes its own metrics (``server/router/metrics.py``) on a private loopback
port; the parent scrapes them when Prometheus scrapes it and answers with one set, as if
one router had served every pick. prometheus_client's multiprocess mode does not fit: the
router's metrics are read from the hot path's plain integers at scrape time, not kept in
prometheus_client's shared-file counters.

How each kind adds up:

* counters and histograms (``sendingip_grpc_server_handling_seconds``): summed, a
  histogram bucket by bucket (and its ``_sum`` and ``_count``). They must never go down, or Prometheus reads a reset and ``rate()``
  counts a member's whole total again: a member that misses a scrape counts with the
  values it last gave, and when a member is restarted (its counters start again at 0)
  what its predecessor had counted is carried over (``ClusterSum``).
* gauges that are a part of a whole (history keys waiting, the backlog's bound, picks
  remembered): summed, over the members that answered.
* ``sendingip_routing_version`` and ``sendingip_routing_loaded``: the lowest, since the
  cluster has loaded what its slowest member has.
* every other gauge (ages, flush lag, stale, live routers, accounts, resting pairs): the
  highest, the worst case, or the value every member has alike.

Pure: text in, metric families out; the scraping is ``cli/cluster.py``'s.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

#: Gauges that are each member's share of a whole.
SUMMED_GAUGES = frozenset(
    {"sendingip_history_backlog_keys", "sendingip_history_backlog_max_keys", "sendingip_router_repeat_window_picks"}
)
#: Gauges for which the cluster is as far as its slowest member.
LOWEST_GAUGES = frozenset({"sendingip_routing_version", "sendingip_routing_loaded"})

#: The kinds whose samples only grow: summed over every member ever seen.
SUMMED_KINDS = frozenset({"counter", "histogram"})

Labels = tuple[tuple[str, str], ...]
SampleKey = tuple[str, Labels]


@dataclass
class Family:
    """One metric family of one member: its samples by (sample name, labels)."""

    name: str
    kind: str
    documentation: str
    samples: dict[SampleKey, float] = field(default_factory=dict)


def parse(text: str) -> dict[str, Family]:
    """A member's exposition as families; a counter keeps its ``_total`` samples only."""
    found: dict[str, Family] = {}
    for metric in text_string_to_metric_families(text):
        family = found.setdefault(metric.name, Family(metric.name, metric.type, metric.documentation))
        for sample in metric.samples:
            if sample.name.endswith("_created") or (metric.type == "counter" and not sample.name.endswith("_total")):
                continue  # a counter's or histogram's _created: meaningless once summed
            family.samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def combine_gauge(name: str, values: Iterable[float]) -> float:
    values = list(values)
    if name in SUMMED_GAUGES:
        return sum(values)
    if name in LOWEST_GAUGES:
        return min(values)
    return max(values)


class ClusterSum:
    """The members' latest metrics and what their ended predecessors counted."""

    def __init__(self) -> None:
        #: member index -> (its incarnation, its families at its last answer)
        self._last: dict[int, tuple[int, dict[str, Family]]] = {}
        #: Counter totals of members' earlier incarnations, by family.
        self._retired: dict[str, Family] = {}

    def observe(self, member: int, incarnation: int, text: str) -> None:
        """Member ``member``'s answer; a new ``incarnation`` means it was restarted."""
        earlier = self._last.get(member)
        if earlier is not None and earlier[0] != incarnation:
            _add_summed(self._retired, earlier[1].values())
        self._last[member] = (incarnation, parse(text))

    def families(self, answered: Collection[int]) -> list[Metric]:
        """The cluster's metrics: counters over every member ever seen, gauges over
        ``answered`` (the members that answered this scrape)."""
        counters: dict[str, Family] = {}
        _add_summed(counters, self._retired.values())
        gauges: dict[str, list[Family]] = {}
        for member, (_, families) in sorted(self._last.items()):
            _add_summed(counters, families.values())
            if member in answered:
                for family in families.values():
                    if family.kind not in SUMMED_KINDS:
                        gauges.setdefault(family.name, []).append(family)
        out = [_metric(family, family.samples) for family in counters.values()]
        for name, parts in gauges.items():
            keys = dict.fromkeys(key for part in parts for key in part.samples)
            samples = {key: combine_gauge(name, (p.samples[key] for p in parts if key in p.samples)) for key in keys}
            out.append(_metric(parts[0], samples))
        return out


def _add_summed(into: dict[str, Family], families: Iterable[Family]) -> None:
    for family in families:
        if family.kind not in SUMMED_KINDS:
            continue
        total = into.setdefault(family.name, Family(family.name, family.kind, family.documentation))
        for key, value in family.samples.items():
            total.samples[key] = total.samples.get(key, 0.0) + value


def _metric(family: Family, samples: dict[SampleKey, float]) -> Metric:
    metric = Metric(family.name, family.documentation, family.kind)
    for (name, labels), value in samples.items():
        metric.add_sample(name, dict(labels), value)
    return metric
