"""A pick whose deadline has passed is DEADLINE_EXCEEDED and not counted (SPEC §3 v2).

The servicer with a context that reports the time left exactly as gRPC's does (``None``
without a deadline), so that the 1 ms boundary is tested exactly; the real gRPC path is in
tests/integration/test_router_service.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from sendingip.v1 import router_pb2
from server.authz import AllowAll
from server.router.engine import Engine
from server.router.history_buffer import HistoryBuffer
from server.router.limits import DailyLimits
from server.router.providers import ProviderTable
from server.router.servicer import RouterServicer
from server.router.table import RoutingTable, compile_region
from store.routing_entry import RegionRoute
from tests.support.requests import pick_request


class Aborted(Exception):
    pass


class Context:
    def __init__(self, remaining: float | None) -> None:
        self.remaining = remaining

    def time_remaining(self) -> float | None:
        return self.remaining

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)


async def _no_outcomes(totals: object, report_id: str) -> None:
    raise AssertionError("not called")


def _servicer() -> RouterServicer:
    table = RoutingTable(loaded=True)
    table.regions["us-east"] = compile_region(RegionRoute("us-east", "general-us-east", ("10.0.0.1",)), 1)
    engine = Engine(table, DailyLimits(0), HistoryBuffer(1000), default_region="us-east")
    return RouterServicer(engine, ProviderTable.with_overrides(""), AllowAll(), _no_outcomes)


def _req(i: int) -> router_pb2.SelectSendingIPRequest:
    return pick_request(f"<{i}@x>")


def _counted(servicer: RouterServicer) -> int:
    return sum(servicer.engine.history.pending.values())


@pytest.mark.parametrize("remaining", [0.0, 0.0005, 0.001])
async def test_a_call_with_a_millisecond_or_less_left_is_refused_and_not_counted(remaining: float) -> None:
    servicer = _servicer()
    calls = [
        servicer.SelectSendingIP(_req(1), Context(remaining)),  # type: ignore[arg-type]
        servicer.SelectSendingIPBatch(
            router_pb2.SelectSendingIPBatchRequest(requests=[_req(2), _req(3)]),
            Context(remaining),  # type: ignore[arg-type]
        ),
    ]
    for call in calls:
        with pytest.raises(Aborted) as info:
            await call
        code, message = info.value.args
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED and "not counted" in message
    assert (_counted(servicer), servicer.expired) == (0, 2)


@pytest.mark.parametrize("remaining", [None, 0.0011, 5.0])
async def test_a_call_with_time_left_or_no_deadline_is_answered_and_counted(remaining: float | None) -> None:
    servicer = _servicer()
    answer = await servicer.SelectSendingIP(_req(1), Context(remaining))  # type: ignore[arg-type]
    batch = await servicer.SelectSendingIPBatch(
        router_pb2.SelectSendingIPBatchRequest(requests=[_req(2), _req(3)]),
        Context(remaining),  # type: ignore[arg-type]
    )
    assert answer.ip == "10.0.0.1" and len(batch.responses) == 2
    assert (_counted(servicer), servicer.expired) == (3, 0)


async def test_a_stream_whose_deadline_passes_stops_before_counting_more() -> None:
    servicer = _servicer()
    context = Context(1.0)

    async def requests() -> AsyncIterator[router_pb2.SelectSendingIPRequest]:
        yield _req(1)
        yield _req(2)
        context.remaining = 0.0009
        yield _req(3)

    answers = []
    with pytest.raises(Aborted) as info:
        async for answer in servicer.SelectSendingIPStream(requests(), context):  # type: ignore[arg-type]
            answers.append(answer)
    assert info.value.args[0] == grpc.StatusCode.DEADLINE_EXCEEDED and "stream[2]" in info.value.args[1]
    assert (len(answers), _counted(servicer)) == (2, 2)
