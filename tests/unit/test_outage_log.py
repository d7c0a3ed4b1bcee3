"""An outage of PostgreSQL is logged as one line when it starts, a summary every minute
while it lasts and one line when it ends (store/outage.py), never a line per retry."""

from __future__ import annotations

import logging

import pytest

from store.outage import Outage, cause


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "test.outage"]


def test_a_minute_of_retries_is_three_lines_with_the_cause_and_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.outage")
    clock = Clock()
    outage = Outage(logging.getLogger("test.outage"), "routing table sync", every=60, clock=clock)
    for _ in range(61):  # a retry every second for 61 s
        outage.failed(FileNotFoundError(2, "No such file or directory"), "serving the table as it is")
        clock.now += 1
    assert outage.down and outage.attempts == 61
    assert outage.recovered() is True
    assert outage.recovered() is False  # nothing to end twice
    lines = _lines(caplog)
    assert [level for level, _ in lines] == ["WARNING", "WARNING", "INFO"], lines
    start, summary, end = (text for _, text in lines)
    assert start.startswith("routing table sync: PostgreSQL unreachable (FileNotFoundError: [Errno 2] No such file")
    assert "serving the table as it is" in start
    assert "still unreachable for 60s, 61 attempts" in summary
    assert "answers again after 61.0s, 61 failed attempts" in end
    assert not any(r.exc_info for r in caplog.records)


def test_a_new_outage_after_a_recovery_starts_its_own_count(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.outage")
    clock = Clock()
    outage = Outage(logging.getLogger("test.outage"), "heartbeat", every=60, clock=clock)
    outage.failed(OSError("refused"))
    clock.now += 5
    outage.recovered()
    clock.now += 100
    outage.failed(TimeoutError())
    assert outage.attempts == 1 and outage.seconds == 0
    assert [t for _, t in _lines(caplog)][-1].startswith("heartbeat: PostgreSQL unreachable (TimeoutError)")


def test_the_cause_is_one_line() -> None:
    assert cause(ConnectionError("a\n  b")) == "ConnectionError: a b"
    assert cause(TimeoutError()) == "TimeoutError"
