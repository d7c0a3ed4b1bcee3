"""The benchmark harness's own logic: the gRPC frame h2load sends, reading h2load's and wrk's
output, the doors' requests and answers, the door client's output, percentiles, the report's
verdicts and the load test's inputs."""

from __future__ import annotations

import array
import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from bench import doors, h2load, schedstat, wrk
from bench.doorbench import rotated
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
    assert h2load.parse_log_timed(log, since_us=2000) == ([(2000, 0.0009), (3000, 0.002)], 2)


def test_requests_sent_in_ticks_are_told_from_requests_sent_one_at_a_time() -> None:
    ticks = [tick * 10_000 + i for tick in range(100) for i in range(15)]  # 15 at once every 10 ms
    steady = list(range(0, 1_000_000, 667))  # one every 0.67 ms
    assert h2load.bunched(ticks) > 0.9
    assert h2load.bunched(steady) == 0.0
    assert h2load.bunched([5]) == 0.0


def test_a_paced_rate_gives_each_process_at_most_one_request_per_tick() -> None:
    assert h2load.paced_processes(1650) == 17
    assert 1650 / h2load.paced_processes(1650) * h2load.RPS_TICK <= 1
    assert h2load.paced_processes(50) == 1


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


def test_report_lists_an_issues_goals_under_the_table_each_beside_its_value() -> None:
    report = Report(command="make bench")
    report.add(Figure("Batch vs unary", "30,000 vs 1,000 picks/s = **30.0×**", {}, "≥ 50×", False, issue="16"))
    report.add(Figure("History flush", "30,000 rows/s"))
    report.add(Figure("Rebalance of 20,000 accounts", "9.0 s", {}, "≤ 30 s at 100,000", None, issue="16"))
    md = report.markdown()
    goals = md[md.index("Issue 16's goals") :]
    assert "* Batch vs unary: 30,000 vs 1,000 picks/s = **30.0×** — goal ≥ 50×: **not met**" in goals
    assert "* Rebalance of 20,000 accounts: 9.0 s — goal ≤ 30 s at 100,000: —" in goals
    assert "History flush" not in goals
    assert "Issue" not in Report(figures=[Figure("History flush", "1 rows/s")]).markdown()


def test_schedstat_share_is_per_second_of_the_run() -> None:
    before = schedstat.Sample(at=10.0, ran_ns=1_000_000_000, waited_ns=0, cpu_busy=100.0)
    after = schedstat.Sample(at=12.0, ran_ns=2_200_000_000, waited_ns=400_000_000, cpu_busy=101.8)
    share = schedstat.share(before, after)
    assert share.server_cpu == pytest.approx(0.6)
    assert share.waited_ms_per_s == pytest.approx(200.0)
    assert share.others_cpu == pytest.approx(0.3)
    # Tick rounding cannot make others' use negative; an unknown CPU stays unknown.
    assert schedstat.share(before, replace(after, cpu_busy=101.1)).others_cpu == 0.0
    assert math.isnan(schedstat.share(before, replace(after, cpu_busy=math.nan)).others_cpu)


def test_schedstat_reads_this_process() -> None:
    import os

    ran, waited = schedstat.read_process(os.getpid())
    assert ran > 0 and waited >= 0
    assert schedstat.read_cpu_busy("0") > 0
    assert math.isnan(schedstat.read_cpu_busy("no-such-cpu"))


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
    spec: dict[str, object] = {
        "target": "127.0.0.1:1",
        "key": None,
        "mtas": 1,
        "rate": 10.0,
        "duration": 1.0,
        "accounts": ("a",),
    }
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


WRK_OUTPUT = """\
Running 5s test @ http://127.0.0.1:46205/v1/select
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.53ms    2.51ms  16.18ms   85.16%
    Req/Sec    37.55k     3.04k   44.78k    80.00%
  Latency Distribution
     50%   75.00us
     75%    2.26ms
     90%    5.28ms
     99%   10.82ms
  190850 requests in 5.02s, 48.25MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 12
Requests/sec:  38017.93
Transfer/sec:      9.61MB
"""


def test_wrk_output_is_read_with_errors_and_percentiles() -> None:
    result = wrk.parse_output(WRK_OUTPUT)
    assert result.requests == 190850
    assert result.seconds == pytest.approx(5.02)
    assert result.rps == pytest.approx(38017.93)
    assert (result.non_2xx, result.socket_errors, result.ok) == (12, 3, 190838)
    assert result.latency == pytest.approx({"50%": 75e-6, "75%": 2.26e-3, "90%": 5.28e-3, "99%": 10.82e-3})


def test_wrk_output_without_error_lines_has_no_errors() -> None:
    clean = "\n".join(line for line in WRK_OUTPUT.splitlines() if "errors" not in line and "Non-2xx" not in line)
    result = wrk.parse_output(clean)
    assert (result.non_2xx, result.socket_errors, result.ok) == (0, 0, 190850)


def test_wrk_output_that_is_not_a_summary_is_refused() -> None:
    with pytest.raises(ValueError, match="unexpected wrk output"):
        wrk.parse_output("unable to connect to 127.0.0.1:1 Connection refused")


def test_wrk_script_formats_every_body_once_with_its_headers() -> None:
    bodies = [doors.json_body("acct-000017", m) for m in doors.message_ids(3)]
    script = wrk.lua_script("/v1/select", bodies, {"Authorization": "Bearer sip_k"})
    assert script.count('\\"account_id\\":\\"acct-000017\\"') == 3
    assert "<bench-2@bench.example>" in script
    assert '["Authorization"] = "Bearer sip_k"' in script
    assert 'wrk.format("POST", "/v1/select", headers, body)' in script
    for unquotable in ('{"a":"caf\u00e9"}', '{"a":"line\nbreak"}'):
        with pytest.raises(ValueError, match="printable ASCII"):
            wrk.lua_script("/v1/select", [unquotable], {})


def test_wrk_command_is_one_thread_with_latency_percentiles() -> None:
    cmd = wrk.command("wrk", "http://h/v1/select", script=Path("s.lua"), connections=32, duration=4.6, cpus=None)
    assert cmd == ["wrk", "-t", "1", "-c", "32", "-d", "5s", "-s", "s.lua", "--latency", "http://h/v1/select"]


def test_door_requests_are_what_each_protocol_reads() -> None:
    line = doors.requests_for("line", "acct-1", 2)
    assert line == [
        b"SELECT acct-1 <bench-0@bench.example> gmail.com\n",
        b"SELECT acct-1 <bench-1@bench.example> gmail.com\n",
    ]
    policy = doors.requests_for("postfix", "acct-1", 2)[1].decode()
    assert policy.startswith("request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\n")
    assert policy.endswith("\n\n") and policy.count("\n\n") == 1
    assert "\nsasl_username=acct-1\n" in policy and "\nrecipient=user1@gmail.com\n" in policy
    assert f"\nqueue_id={doors.message_id_for('postfix', 1)}\n" in policy
    http = doors.requests_for("http", "acct-1", 1, key="sip_k", host="127.0.0.1:9")[0]
    head, body = http.split(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/select HTTP/1.1\r\nHost: 127.0.0.1:9\r\n")
    assert b"\r\nAuthorization: Bearer sip_k\r\n" in head and f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body) == {
        "account_id": "acct-1",
        "message_id": "<bench-0@bench.example>",
        "recipient_domain": "gmail.com",
    }
    with pytest.raises(ValueError, match="unknown door"):
        doors.requests_for("smtp", "acct-1", 1)


def test_request_file_is_length_prefixed() -> None:
    data = doors.request_file([b"ab", b"c\n"])
    assert data == b"\x02\x00\x00\x00ab\x02\x00\x00\x00c\n"
    with pytest.raises(ValueError):
        doors.request_file([])


@pytest.mark.parametrize(
    ("door", "answer", "ip"),
    [
        ("line", b"192.0.2.1\n", "192.0.2.1"),
        ("line", b"ERR PERMISSION_DENIED key may not route acct-1\n", None),
        ("postfix", b"action=FILTER sendingip_192_0_2_1:\n\n", "192.0.2.1"),
        ("postfix", b"action=FILTER sendingip_2001_db8__1:\n\n", "2001:db8::1"),
        ("postfix", b"action=DUNNO\n\n", None),
        ("http", b'HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{"ip":"10.0.0.1"}', "10.0.0.1"),
        ("http", b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\n{}", None),
    ],
)
def test_answer_ip_reads_each_door_and_its_refusals(door: str, answer: bytes, ip: str | None) -> None:
    assert doors.answer_ip(door, answer) == ip


def test_client_output_and_rate() -> None:
    out = (
        "noise\n"
        '{"sent": 1200, "answered": 1190, "ok": 1189, "bad": 1, "measured": 1000, "seconds": 2.000000, '
        '"unanswered": 0, "first_bad": "ERR INVALID_ARGUMENT x"}\n'
    )
    result = doors.parse_client_output(out)
    assert (result.sent, result.answered, result.ok, result.bad, result.measured) == (1200, 1190, 1189, 1, 1000)
    assert result.rps == 500.0 and result.first_bad == "ERR INVALID_ARGUMENT x"
    with pytest.raises(ValueError, match="unexpected doorclient output"):
        doors.parse_client_output("doorclient: cannot connect\n")


def test_latency_file_is_nanoseconds() -> None:
    raw = array.array("Q", [1_000, 250_000, 3_000_000]).tobytes()
    assert doors.latencies(raw) == pytest.approx([1e-6, 250e-6, 3e-3])
    with pytest.raises(ValueError, match="not whole uint64s"):
        doors.latencies(b"\x00" * 9)


def test_client_command_modes() -> None:
    base = {"connections": 4, "warm_up": 1.0, "seconds": 5.0}
    cmd = doors.client_command(Path("dc"), "postfix", 9, Path("r"), depth=64, **base)  # type: ignore[arg-type]
    assert cmd == ["dc", "policy", "127.0.0.1", "9", "r", "4", "1", "5", "max", "64"]
    cmd = doors.client_command(Path("dc"), "line", 9, Path("r"), rate=2500, latency_file=Path("l"), **base)  # type: ignore[arg-type]
    assert cmd[-3:] == ["paced", "2500", "l"]
    with pytest.raises(ValueError, match="give depth"):
        doors.client_command(Path("dc"), "line", 9, Path("r"), **base)  # type: ignore[arg-type]


def test_rotation_turns_the_order() -> None:
    names = ("a", "b", "c")
    assert [rotated(names, rep) for rep in range(4)] == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
    ]
