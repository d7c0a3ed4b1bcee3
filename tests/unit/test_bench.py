"""The benchmark harness's own logic: the gRPC frame h2load sends, reading h2load's output,
percentiles, the report's verdicts and the load test's inputs."""

from __future__ import annotations

import pytest

from bench import h2load
from bench.loadtest import LoadSpec, account_list, format_report, parse_mix
from bench.report import Figure, Report
from bench.stats import median, percentile, percentiles
from sendingip.v1 import router_pb2

H2LOAD_OUTPUT = """\
starting benchmark...
Application protocol: h2c
Main benchmark duration is over for thread #0. Stopping all clients.

finished in 9.00s, 2787.78 req/s, 273.87KB/s
requests: 25090 total, 25218 started, 25090 done, 25089 succeeded, 1 failed, 0 errored, 0 timeout
status codes: 25089 2xx, 0 3xx, 1 4xx, 0 5xx
traffic: 2.41MB (2523991) total, 73.80KB (75570) headers (space savings 96.28%), 1.15MB (1204320) data
"""


def test_grpc_frame_is_flag_length_and_message() -> None:
    request = router_pb2.SelectSendingIPRequest(account_id="acct-1", message_id="<m@x>", recipient_domain="gmail.com")
    body = request.SerializeToString()
    frame = h2load.grpc_frame(body)
    assert frame[0] == 0  # not compressed
    assert int.from_bytes(frame[1:5], "big") == len(body)
    assert router_pb2.SelectSendingIPRequest.FromString(frame[5:]) == request
    assert h2load.grpc_frame(b"") == b"\x00\x00\x00\x00\x00"


def test_headers_carry_grpc_content_type_trailers_and_key() -> None:
    assert h2load.grpc_headers("sip_k_s") == [
        "content-type: application/grpc",
        "te: trailers",
        "authorization: Bearer sip_k_s",
    ]


def test_command_pins_and_sets_rate_and_log(tmp_path: object) -> None:
    from pathlib import Path

    cmd = h2load.command(
        "h2load",
        "http://127.0.0.1:1/x",
        body=Path("b"),
        headers=["te: trailers"],
        duration=2,
        rps=250,
        log_file=Path("log"),
        cpus="1",
    )
    assert cmd[:3] == ["taskset", "-c", "1"] or cmd[0] == "h2load"
    assert "--rps=250" in cmd and "--log-file" in cmd and "-D" in cmd


def test_parse_output_reads_the_summary() -> None:
    result = h2load.parse_output(H2LOAD_OUTPUT)
    assert result.rps == pytest.approx(2787.78)
    assert result.seconds == pytest.approx(9.0)
    assert (result.requests_total, result.succeeded, result.failed) == (25090, 25089, 1)
    assert (result.status_2xx, result.status_other) == (25089, 1)


def test_parse_output_refuses_what_is_not_h2load() -> None:
    with pytest.raises(ValueError, match="unexpected h2load output"):
        h2load.parse_output("connect to 127.0.0.1 failed")


def test_parse_log_keeps_200s_after_the_start() -> None:
    log = "1000\t200\t1500\n2000\t200\t900\n2500\t503\t100\n3000\t200\t2000\n\ngarbage\n"
    latencies, other = h2load.parse_log(log, since_us=2000)
    assert latencies == [0.0009, 0.002]
    assert other == 2  # the 503 and the garbage line


def test_percentile_is_nearest_rank() -> None:
    values = [float(i) for i in range(1, 1001)]
    assert percentile(values, 50) == 500
    assert percentile(values, 99) == 990
    assert percentile(values, 99.9) == 999
    assert percentile(values, 100) == 1000
    assert percentile([7.0], 99.9) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
    p = percentiles([3.0, 1.0, 2.0], (50,))
    assert p == {"p50": 2.0, "max": 3.0, "n": 3.0}
    assert median([5.0, 1.0, 3.0]) == 3.0


def test_report_marks_targets_met_and_not_met() -> None:
    report = Report(command="make bench", machine={"cpus": "2"})
    report.add(Figure("ratio", "0.90×", target="≥ 0.85×", met=True))
    report.add(Figure("p99", "3 ms", target="≤ 2 ms", met=False))
    report.add(Figure("flush", "100 rows/s"))
    text = report.markdown()
    assert "| ratio | 0.90× | ≥ 0.85× | met |" in text
    assert "| p99 | 3 ms | ≤ 2 ms | **not met** |" in text
    assert "| flush | 100 rows/s | — | — |" in text
    assert "Targets met: 1 of 2." in text
    assert '"met": false' in report.to_json()


def test_provider_mix_and_accounts() -> None:
    assert parse_mix("google=50, microsoft=30,other=20") == [("google", 50), ("microsoft", 30), ("other", 20)]
    for bad in ("google", "google=x", "=5", "google=0"):
        with pytest.raises(ValueError, match="provider mix"):
            parse_mix(bad)
    assert account_list("a, b,,c", None) == ("a", "b", "c")
    assert account_list(None, 2) == ("acct-000000", "acct-000001")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mtas": 0}, "--mtas"),
        ({"rate": 0}, "--rate"),
        ({"duration": 1e9}, "--duration"),
        ({"accounts": ()}, "--accounts"),
    ],
)
def test_load_spec_is_bounded(change: dict[str, object], message: str) -> None:
    spec = {"target": "127.0.0.1:1", "key": None, "mtas": 1, "rate": 10.0, "duration": 1.0, "accounts": ("a",)}
    spec.update(change)
    with pytest.raises(ValueError, match=message):
        LoadSpec(**spec).check()  # type: ignore[arg-type]


def test_format_report_names_errors_and_overflow() -> None:
    text = format_report(
        {
            "target": "t",
            "mtas": 2,
            "target_rate": 100.0,
            "duration": 1.0,
            "sent": 100,
            "ok": 98,
            "achieved_rate": 98.0,
            "skipped": 0,
            "errors": {"UNAVAILABLE": 2},
            "overflow": 7,
            "pool_types": {"general": 90, "dedicated": 8},
            "latency_seconds": {"p50": 0.001, "p90": 0.002, "p99": 0.003, "p99.9": 0.004, "max": 0.005},
        }
    )
    assert "UNAVAILABLE 2" in text and "overflow 7 (7.14% of answers)" in text and "p99 3.00 ms" in text
