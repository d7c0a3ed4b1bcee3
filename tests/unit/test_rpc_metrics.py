"""Per-method latency histograms (server/rpc_metrics.py) and their sum across a cluster's
members (server/cluster_metrics.py): bucket by bucket, never going down."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, generate_latest

from server.cluster_metrics import ClusterSum
from server.rpc_metrics import Latencies, RpcCollector

PICK = "/sendingip.v1.Router/SelectSendingIP"
ADMIN = "/sendingip.v1.Management/UpdatePolicy"


def exposition(latencies: Latencies) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RpcCollector(latencies))
    return generate_latest(registry).decode()


def member(picks: Sequence[float], admin: Sequence[float] = ()) -> str:
    latencies = Latencies()
    for seconds in picks:
        latencies.method(PICK).observe(seconds)
    for seconds in admin:
        latencies.method(ADMIN).observe(seconds)
    return exposition(latencies)


def samples(cluster: ClusterSum, answered: set[int]) -> dict[tuple[str, str, str], float]:
    out = {}
    for family in cluster.families(answered):
        for s in family.samples:
            out[(s.name, s.labels.get("method", ""), s.labels.get("le", ""))] = s.value
    return out


def test_a_histogram_counts_each_call_in_its_bucket_cumulatively() -> None:
    text = member([0.0001, 0.0003, 0.0003, 0.004, 7.0])
    assert f'sendingip_grpc_server_handling_seconds_bucket{{le="0.0002",method="{PICK}"}} 1.0' in text
    assert f'sendingip_grpc_server_handling_seconds_bucket{{le="0.0005",method="{PICK}"}} 3.0' in text
    assert f'sendingip_grpc_server_handling_seconds_bucket{{le="0.005",method="{PICK}"}} 4.0' in text
    assert f'sendingip_grpc_server_handling_seconds_bucket{{le="5.0",method="{PICK}"}} 4.0' in text
    assert f'sendingip_grpc_server_handling_seconds_bucket{{le="+Inf",method="{PICK}"}} 5.0' in text
    assert f'sendingip_grpc_server_handling_seconds_count{{method="{PICK}"}} 5.0' in text


def test_a_cluster_sums_histograms_bucket_by_bucket_and_carries_a_restarted_members() -> None:
    cluster = ClusterSum()
    cluster.observe(1, 1, member([0.0001, 0.003]))
    cluster.observe(2, 1, member([0.0001], admin=[0.02]))
    summed = samples(cluster, {1, 2})
    name = "sendingip_grpc_server_handling_seconds"
    assert summed[(f"{name}_bucket", PICK, "0.0002")] == 2
    assert summed[(f"{name}_bucket", PICK, "0.005")] == 3
    assert summed[(f"{name}_bucket", PICK, "+Inf")] == 3
    assert summed[(f"{name}_count", PICK, "")] == 3
    assert summed[(f"{name}_sum", PICK, "")] == 0.0001 + 0.003 + 0.0001
    assert summed[(f"{name}_bucket", ADMIN, "0.025")] == 1
    # Member 2 restarts and counts anew: what it counted before stays in the sum.
    cluster.observe(2, 2, member([0.0001]))
    assert samples(cluster, {1, 2})[(f"{name}_count", PICK, "")] == 4
    assert samples(cluster, {1})[(f"{name}_bucket", ADMIN, "+Inf")] == 1
