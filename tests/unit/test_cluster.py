"""The pure parts of `serve --processes N` (server/cluster*.py), and its port guard on real sockets."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from server.adapters.config import AdapterConfig
from server.adapters.listener import ListenError
from server.cluster import Bound, RestartBudget, member_config, member_count, member_cpu, with_port
from server.cluster_metrics import ClusterSum
from server.cluster_ports import PortHold
from server.config import RouterConfig, ServerConfig
from store.config import ConfigError
from tests.support.processes import SENDINGIP


def test_member_count_is_a_whole_number_or_one_per_core() -> None:
    assert member_count("3", 2) == 3
    assert member_count("auto", 8) == 8
    assert member_count("AUTO", None) == 1
    for bad in ("0", "-1", "two", "1.5", ""):
        with pytest.raises(ConfigError, match=r"--processes .*: expected a whole number ≥ 1 or auto"):
            member_count(bad, 2)


def test_member_cpu_gives_each_member_the_next_allowed_cpu_and_wraps_round() -> None:
    assert [member_cpu(i, {3, 1}) for i in (1, 2, 3, 4)] == [1, 3, 1, 3]
    assert [member_cpu(i, [0, 1, 2, 3]) for i in (1, 2)] == [0, 1]
    with pytest.raises(ConfigError, match="--pin-cpus: this process may run on no CPU"):
        member_cpu(1, [])


def test_auto_counts_the_cpus_this_process_may_use_not_all_the_host_has() -> None:
    code = "from cli.serve import allowed_cpus; print(len(allowed_cpus()))"
    done = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"  # whatever os.cpu_count() says


def test_pin_cpus_without_processes_is_refused_before_anything_starts(tmp_path: Path) -> None:
    env = {**os.environ, "SENDINGIP_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path)}
    env.pop("SENDINGIP_DATABASE_URL", None)
    done = subprocess.run([SENDINGIP, "serve", "--pin-cpus"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "--pin-cpus pins the processes of --processes N; pin a single router with taskset" in done.stderr
    assert not (tmp_path / "data").exists()  # no database was made


def test_with_port_replaces_the_port_of_v4_v6_and_names() -> None:
    assert with_port("127.0.0.1:0", 5001) == "127.0.0.1:5001"
    assert with_port("[::1]:0", 5001) == "[::1]:5001"
    assert with_port("localhost:80", 81) == "localhost:81"


def test_member_config_shares_the_bound_ports_with_a_private_metrics_port_and_a_stable_router_id() -> None:
    config = ServerConfig(
        listen="127.0.0.1:0",
        router=RouterConfig(router_id="host-1", metrics_listen="127.0.0.1:9464"),
        adapters=AdapterConfig(http_listen="127.0.0.1:0", postfix_listen="", line_listen="127.0.0.1:0"),
    )
    bound = Bound(grpc="127.0.0.1:5001", http="127.0.0.1:5002", line="127.0.0.1:5003")
    member = member_config(config, bound, 2, base_router_id="host-1")
    assert (member.listen, member.share_port, member.auto_migrate) == ("127.0.0.1:5001", True, False)
    assert member.router.router_id == "host-1-2"
    assert member.router.metrics_listen == "127.0.0.1:0"
    doors = member.adapters
    assert (doors.http_listen, doors.postfix_listen, doors.line_listen, doors.share_port) == (
        "127.0.0.1:5002",
        "",
        "127.0.0.1:5003",
        True,
    )
    quiet = member_config(
        ServerConfig(router=RouterConfig(metrics_listen="0")), bound, 1, base_router_id="h"
    )  # metrics off: the members expose none either
    assert quiet.router.metrics_listen == "0"
    assert ServerConfig.from_env({}).share_port is False and AdapterConfig.from_env({}).share_port is False


def test_restart_budget_allows_a_few_restarts_per_window() -> None:
    budget = RestartBudget(limit=3, window=60.0)
    assert [budget.allow(t) for t in (0.0, 1.0, 2.0, 3.0)] == [True, True, True, False]
    assert budget.allow(60.5)  # the first two have left the window
    assert budget.allow(61.5)
    assert not budget.allow(61.8)


def _text(picks_general: float, picks_dedicated: float, version: float, backlog: float, lag: float) -> str:
    return f"""# HELP sendingip_router_picks_total Picks
# TYPE sendingip_router_picks_total counter
sendingip_router_picks_total{{pool_type="general"}} {picks_general}
sendingip_router_picks_total{{pool_type="dedicated"}} {picks_dedicated}
sendingip_router_picks_created{{pool_type="general"}} 1.7e9
# HELP sendingip_routing_version Version
# TYPE sendingip_routing_version gauge
sendingip_routing_version {version}
# HELP sendingip_history_backlog_keys Keys
# TYPE sendingip_history_backlog_keys gauge
sendingip_history_backlog_keys {backlog}
# HELP sendingip_history_flush_lag_seconds Lag
# TYPE sendingip_history_flush_lag_seconds gauge
sendingip_history_flush_lag_seconds {lag}
"""


def _samples(cluster: ClusterSum, answered: set[int]) -> dict[str, float]:
    out = {}
    for family in cluster.families(answered):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def test_cluster_sum_adds_counters_and_combines_each_gauge_by_its_rule() -> None:
    cluster = ClusterSum()
    cluster.observe(1, 1, _text(10, 1, version=7, backlog=3, lag=0.5))
    cluster.observe(2, 1, _text(20, 2, version=6, backlog=4, lag=2.0))
    assert _samples(cluster, {1, 2}) == {
        "sendingip_router_picks_total{pool_type=general}": 30,
        "sendingip_router_picks_total{pool_type=dedicated}": 3,
        "sendingip_routing_version": 6,  # the slowest member's
        "sendingip_history_backlog_keys": 7,  # a part each
        "sendingip_history_flush_lag_seconds": 2.0,  # the worst
    }


def test_cluster_sum_never_lets_a_counter_go_down() -> None:
    cluster = ClusterSum()
    cluster.observe(1, 1, _text(10, 0, 1, 0, 0))
    cluster.observe(2, 1, _text(20, 0, 1, 0, 0))
    # Member 2 does not answer this scrape: its last counters stay in, its gauges do not.
    cluster.observe(1, 1, _text(11, 0, 2, 5, 0))
    samples = _samples(cluster, {1})
    assert samples["sendingip_router_picks_total{pool_type=general}"] == 31
    assert samples["sendingip_history_backlog_keys"] == 5
    # Member 2 is restarted: its counters begin again at 0; its predecessor's 20 are carried.
    cluster.observe(2, 2, _text(4, 0, 2, 0, 0))
    assert _samples(cluster, {1, 2})["sendingip_router_picks_total{pool_type=general}"] == 11 + 20 + 4
    cluster.observe(2, 2, _text(9, 0, 2, 0, 0))
    assert _samples(cluster, {1, 2})["sendingip_router_picks_total{pool_type=general}"] == 11 + 20 + 9


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _bind(port: int, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock


def test_port_hold_lets_siblings_in_and_keeps_strangers_and_other_clusters_out() -> None:
    hold = PortHold("gRPC server", "127.0.0.1:0")
    port = hold.port
    try:
        assert port > 0
        siblings = [_bind(port, reuse_port=True) for _ in range(2)]
        with pytest.raises(OSError):
            _bind(port, reuse_port=False).close()  # a plain server (SO_REUSEADDR only)
        with pytest.raises(ListenError, match=rf"cannot listen on 127.0.0.1:{port}: address already in use: another"):
            PortHold("gRPC server", f"127.0.0.1:{port}")  # a second cluster
        for sibling in siblings:
            sibling.close()
        with pytest.raises(OSError):
            _bind(port, reuse_port=False).close()  # still held while no member runs (a restart)
        _bind(port, reuse_port=True).close()  # a restarted member gets in
    finally:
        hold.close()
    _bind(port, reuse_port=False).close()  # released


_STRANGER = """
import socket, sys
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
try:
    sock.bind(("127.0.0.1", int(sys.argv[1])))
    sock.listen()
except OSError:
    sys.exit(3)
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("runuser") or not os.path.exists("/usr/bin/python3"),
    reason="needs root to become another user, and a python3 that user may run",
)
def test_port_hold_keeps_out_another_user_even_with_so_reuseport() -> None:
    hold = PortHold("gRPC server", "127.0.0.1:0")
    try:
        stranger = ["/usr/bin/python3", "-I", "-c", _STRANGER, str(hold.port)]
        done = subprocess.run(["runuser", "-u", "nobody", "--", *stranger], timeout=30)
        assert done.returncode == 3
        assert subprocess.run(stranger, timeout=30).returncode == 0  # as this user it would get in (documented)
    finally:
        hold.close()


def test_port_hold_of_a_held_port_fails_with_a_clear_error() -> None:
    port = _free_port()
    with socket.socket() as plain:
        plain.bind(("127.0.0.1", port))
        plain.listen()
        with pytest.raises(ListenError, match="another process holds it"):
            PortHold("http door", f"127.0.0.1:{port}")
