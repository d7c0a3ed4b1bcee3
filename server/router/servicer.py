"""The Router gRPC service (SPEC §3): a thin shell over ``Engine``.

The picks go through ``Picker`` (server/router/picker.py), which every other door uses
too: access is checked first, with the accounts the call concerns; bad input is
INVALID_ARGUMENT naming the field, a region with no IPs FAILED_PRECONDITION, no routing
table yet UNAVAILABLE (``picker.refusal``).

A pick whose deadline has passed by the time it is handled is answered DEADLINE_EXCEEDED
before anything else and is not counted (SPEC §3 v2): the client has given up on it, and
its MTA will ask again. gRPC's C core rounds a deadline under 1 ms up to 1 ms on the
server, so a call that arrives with ``EXPIRED_SECONDS`` or less left counts as expired.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import cast

import grpc

from sendingip.v1 import router_pb2, router_pb2_grpc
from server import validate
from server.authz import Authorizer, Metadata
from server.refusal import Refusal
from server.router.engine import Engine, batch_response, response
from server.router.picker import Picker
from server.router.providers import ProviderTable
from server.validate import OUTCOME_COUNTS, RequestError

log = logging.getLogger(__name__)

OutcomeKey = tuple[date, str, str, str]
#: Writes aggregated outcomes (``validate.OUTCOME_COUNTS``) per key, once per report id
#: (an empty id: always).
OutcomeWriter = Callable[[dict[OutcomeKey, list[int]], str], Awaitable[None]]
Context = grpc.aio.ServicerContext[object, object]
#: A call with this many seconds left or fewer had expired when it arrived (see above).
EXPIRED_SECONDS = 0.001


def expired(context: Context) -> bool:
    """The call's deadline has passed (or is the 1 ms the C core makes of a passed one)."""
    remaining = context.time_remaining()
    return remaining is not None and remaining <= EXPIRED_SECONDS


def _expired_message(what: str) -> str:
    return f"the call's deadline had passed when the router took it up; {what} not answered and not counted"


class OutcomesUnavailable(RuntimeError):
    pass


class RouterServicer(router_pb2_grpc.RouterServicer):
    def __init__(
        self,
        engine: Engine,
        providers: ProviderTable,
        authorizer: Authorizer,
        write_outcomes: OutcomeWriter,
        *,
        max_batch: int = 1000,
    ) -> None:
        self.engine = engine
        self.providers = providers
        self.authorizer = authorizer
        self.picker = Picker(engine, providers, authorizer, max_batch=max_batch)
        self.write_outcomes = write_outcomes
        self.max_batch = max_batch
        #: Set on SIGTERM before the gRPC server stops: open streams end (UNAVAILABLE)
        #: at their next request instead of being cut off when the grace runs out,
        #: which could count a pick whose answer never left.
        self.draining = False
        #: Calls (or stream items) refused because their deadline had passed.
        self.expired = 0

    async def _refuse_expired(self, context: Context, what: str) -> None:
        self.expired += 1
        await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, _expired_message(what))

    async def _authorize(self, context: Context, accounts: list[str] | tuple[str, ...]) -> None:
        # At run time the metadata is a tuple of (key, value) pairs; the stubs say Metadata.
        denial = self.authorizer.check(cast(Metadata, context.invocation_metadata()), "route", accounts)
        if denial is not None:
            await context.abort(*denial)

    async def SelectSendingIP(
        self, request: router_pb2.SelectSendingIPRequest, context: Context
    ) -> router_pb2.SelectSendingIPResponse:
        if expired(context):
            await self._refuse_expired(context, "the pick was")
        try:
            return response(self.picker.select(cast(Metadata, context.invocation_metadata()), request))
        except Refusal as r:
            await context.abort(r.code, r.message)

    async def SelectSendingIPBatch(
        self, request: router_pb2.SelectSendingIPBatchRequest, context: Context
    ) -> router_pb2.SelectSendingIPBatchResponse:
        if expired(context):
            await self._refuse_expired(context, "the batch was")
        try:
            answers = self.picker.select_batch(cast(Metadata, context.invocation_metadata()), request.requests)
        except Refusal as r:
            await context.abort(r.code, r.message)
        return batch_response(answers)

    async def SelectSendingIPStream(
        self, request_iterator: AsyncIterator[router_pb2.SelectSendingIPRequest], context: Context
    ) -> AsyncIterator[router_pb2.SelectSendingIPResponse]:
        i = 0
        metadata = cast(Metadata, context.invocation_metadata())
        # The key when the stream opens, not at its first request: a stream without one
        # would otherwise hold a call slot for as long as it sends nothing (server.admission).
        await self._authorize(context, ())
        async for request in request_iterator:
            if self.draining:
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE,
                    f"the router is shutting down; stream[{i}] and later were not answered: send them again",
                )
            if expired(context):
                await self._refuse_expired(context, f"stream[{i}] and later were")
            try:
                yield response(self.picker.select_one_of(metadata, request, i, "stream"))
            except Refusal as r:
                await context.abort(r.code, r.message)
            i += 1

    async def ReportOutcomes(
        self, request: router_pb2.ReportOutcomesRequest, context: Context
    ) -> router_pb2.ReportOutcomesResponse:
        outcomes = request.outcomes
        await self._authorize(context, list({o.account_id for o in outcomes}))
        try:
            validate.batch_size(len(outcomes), self.max_batch, "outcomes")
            report_id = validate.report_id(request.report_id)
            totals: dict[OutcomeKey, list[int]] = {}
            for i, o in enumerate(outcomes):
                key = validate.outcome(o, self.providers, f"outcomes[{i}].")
                sums = totals.setdefault(key, [0] * len(OUTCOME_COUNTS))
                for j, name in enumerate(OUTCOME_COUNTS):
                    sums[j] += getattr(o, name)
            if totals:
                await self.write_outcomes(totals, report_id)
        except RequestError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except OutcomesUnavailable as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return router_pb2.ReportOutcomesResponse(accepted=len(outcomes))
