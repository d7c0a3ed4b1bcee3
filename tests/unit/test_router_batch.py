"""The batch path (``Engine.choose_all``, ``Picker.select_batch``, ``batch_response``): the
same answers and counts as one pick at a time, one clock reading per batch, and a bad item
refused by its index before anything is counted."""

from __future__ import annotations

from datetime import date

import grpc
import pytest

from sendingip.v1.router_pb2 import SelectSendingIPBatchResponse
from server.authz import AllowAll
from server.refusal import Refusal
from server.router.engine import Answer, Engine, batch_response, response
from server.router.history_buffer import HistoryBuffer
from server.router.limits import SECONDS_PER_DAY, SECONDS_PER_HOUR, DailyLimits
from server.router.picker import Picker
from server.router.providers import ProviderTable
from server.router.table import RoutingTable, compile_account, compile_region
from store.routing_entry import AccountRoute, DedicatedIP, ProviderRoute, RegionRoute
from tests.support.requests import pick_request

DAY = 20_000


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def _engine(clock: Clock, window: int = 1000) -> Engine:
    """A warming pair (limit 30) beside a 3-IP general pool: picks overflow partway."""
    table = RoutingTable(loaded=True)
    table.regions["us-east"] = compile_region(RegionRoute("us-east", "general-us-east", ("10.0.0.1", "10.0.0.2")), 3)
    entry = AccountRoute(
        "acme",
        "us-east",
        "transition",
        date(2024, 10, 5),
        "dedicated-acme",
        {"google": ProviderRoute(0.7, (DedicatedIP("198.51.100.1", 1.0, 30),))},
    )
    table.accounts["acme"] = compile_account(entry, 5)
    limits = DailyLimits(DAY)
    return Engine(table, limits, HistoryBuffer(1000), default_region="us-east", clock=clock, repeat_window_picks=window)


def _requests() -> list[tuple[str, str, str, str, bool]]:
    """New messages, a repeat, retries, an account the router does not know, another provider."""
    items = [("acme", f"<{i}@x>", "", "google", False) for i in range(80)]
    items += [("acme", "<3@x>", "", "google", False), ("acme", "<4@x>", "", "google", True)]
    items += [("stranger", "<1@x>", "", "google", False), ("acme", "<1@x>", "", "yahoo", False)]
    return items


def test_a_batch_answers_and_counts_exactly_as_picks_one_at_a_time() -> None:
    now = DAY * SECONDS_PER_DAY + 7 * SECONDS_PER_HOUR
    one, batch = _engine(Clock(now)), _engine(Clock(now))
    singly = [one.choose(*r) for r in _requests()]
    together = batch.choose_all(_requests())
    assert together == singly
    assert any(a.overflow for a in together) and any(not a.overflow for a in together)
    assert (batch.picks, batch.overflows, batch.retries, batch.repeats) == (
        one.picks,
        one.overflows,
        one.retries,
        one.repeats,
    )
    assert (one.retries, one.repeats) == (1, 1)
    assert batch.limits.counts == one.limits.counts
    assert batch.history.pending == one.history.pending
    assert batch.history.new_accounts == {"stranger": "us-east"}


def test_a_batch_reads_the_clock_once_so_it_is_answered_within_one_hour() -> None:
    clock = Clock(DAY * SECONDS_PER_DAY + 8 * SECONDS_PER_HOUR - 0.001)
    engine = _engine(clock)
    engine.choose_all(_requests())
    assert clock.reads == 1
    assert engine.limits.hour == 7


def test_the_batch_response_carries_every_answer_in_order() -> None:
    engine = _engine(Clock(DAY * SECONDS_PER_DAY))
    answers = engine.choose_all(_requests())
    assert list(batch_response(answers).responses) == [response(a) for a in answers]


def test_the_batch_response_is_exact_for_long_and_many_distinct_answers() -> None:
    """An answer over 127 bytes (a two-byte length on the wire) and thousands of distinct
    answers come out field for field, and an empty batch is an empty response."""
    long_pool = Answer("2001:db8::1", "p" * 200, 2, 3, "google", 7, True)
    answers = [
        long_pool,
        *(Answer(f"10.0.{i // 250}.{i % 250}", "general", 1, 1, "other", i, False) for i in range(5000)),
    ]
    assert list(batch_response(answers + answers[:3]).responses) == [response(a) for a in answers + answers[:3]]
    assert batch_response([]) == SelectSendingIPBatchResponse()


def _picker(engine: Engine) -> Picker:
    return Picker(engine, ProviderTable(), AllowAll(), max_batch=100)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"account": "not valid!"}, "requests[2].account_id"),
        ({"message_id": ""}, "requests[2].message_id"),
        ({"domain": "gmail .com"}, "requests[2].recipient_domain"),
        ({"mailbox_provider": "nobody"}, "requests[2].mailbox_provider"),
    ],
)
def test_a_bad_item_is_refused_by_its_index_and_nothing_of_the_batch_is_counted(
    bad: dict[str, object], field: str
) -> None:
    engine = _engine(Clock(DAY * SECONDS_PER_DAY))
    fields: dict[str, object] = {"message_id": "<bad@x>", **bad}
    requests = [pick_request("<1@x>"), pick_request("<2@x>"), pick_request(**fields), pick_request("<3@x>")]  # type: ignore[arg-type]
    with pytest.raises(Refusal) as refused:
        _picker(engine).select_batch(None, requests)
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.message.startswith(field + ":")
    assert engine.picks == [0, 0, 0] and not engine.history.pending


def test_a_valid_batch_through_the_picker_is_the_engines_answers() -> None:
    engine, again = _engine(Clock(DAY * SECONDS_PER_DAY)), _engine(Clock(DAY * SECONDS_PER_DAY))
    requests = [pick_request(f"<{i}@x>", domain="gmail.com" if i % 2 else "yahoo.com") for i in range(40)]
    answers = _picker(engine).select_batch(None, requests)
    provider = {"gmail.com": "google", "yahoo.com": "yahoo"}
    assert answers == [again.choose("acme", r.message_id, "", provider[r.recipient_domain], False) for r in requests]


def test_a_batch_over_the_limit_is_refused_by_its_size() -> None:
    engine = _engine(Clock(DAY * SECONDS_PER_DAY))
    with pytest.raises(Refusal) as refused:
        _picker(engine).select_batch(None, [pick_request(f"<{i}@x>") for i in range(101)])
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "requests" in refused.value.message
