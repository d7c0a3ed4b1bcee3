"""The Router gRPC service (SPEC §3): a thin shell over ``Engine``.

Errors are mapped to status codes in one place (``_status``): bad input is
INVALID_ARGUMENT naming the field, a region with no IPs FAILED_PRECONDITION, no routing
table yet UNAVAILABLE. Access is checked before anything else, with the accounts the
call concerns.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import date
from typing import NoReturn, cast

import grpc

from sendingip.v1 import router_pb2, router_pb2_grpc
from server.authz import Authorizer, Metadata
from server.router import validate
from server.router.engine import Engine, NotLoaded
from server.router.pick import NoGeneralPool
from server.router.providers import ProviderTable
from server.router.validate import RequestError

log = logging.getLogger(__name__)

OutcomeKey = tuple[date, str, str, str]
#: Writes aggregated outcomes (delivered, deferred, bounced, complained) per key.
OutcomeWriter = Callable[[dict[OutcomeKey, list[int]]], Awaitable[None]]
Context = grpc.aio.ServicerContext[object, object]


class OutcomesUnavailable(RuntimeError):
    pass


def _status(exc: Exception) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, RequestError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)
    if isinstance(exc, NoGeneralPool):
        return grpc.StatusCode.FAILED_PRECONDITION, str(exc)
    if isinstance(exc, NotLoaded | OutcomesUnavailable):
        return grpc.StatusCode.UNAVAILABLE, str(exc)
    raise exc


def _provider(request: router_pb2.SelectSendingIPRequest, providers: ProviderTable, i: int, name: str) -> str:
    """``validate.select_provider`` for item ``i`` of a batch or stream. The field prefix
    (``requests[3].``) is formatted only for a bad item: per item it cost more than the check."""
    try:
        return validate.select_provider(request, providers)
    except RequestError:
        validate.select_provider(request, providers, f"{name}[{i}].")
        raise


def _providers(requests: Sequence[router_pb2.SelectSendingIPRequest], providers: ProviderTable) -> list[str]:
    select_provider = validate.select_provider
    try:
        return [select_provider(r, providers) for r in requests]
    except RequestError:
        for i, r in enumerate(requests):
            _provider(r, providers, i, "requests")
        raise


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
        self.write_outcomes = write_outcomes
        self.max_batch = max_batch
        #: Set on SIGTERM before the gRPC server stops: open streams end (UNAVAILABLE)
        #: at their next request instead of being cut off when the grace runs out,
        #: which could count a pick whose answer never left.
        self.draining = False

    async def _abort(self, context: Context, exc: Exception) -> NoReturn:
        code, message = _status(exc)
        await context.abort(code, message)

    async def _authorize(self, context: Context, accounts: list[str] | tuple[str, ...]) -> None:
        # At run time the metadata is a tuple of (key, value) pairs; the stubs say Metadata.
        denial = self.authorizer.check(cast(Metadata, context.invocation_metadata()), "route", accounts)
        if denial is not None:
            await context.abort(*denial)

    async def SelectSendingIP(
        self, request: router_pb2.SelectSendingIPRequest, context: Context
    ) -> router_pb2.SelectSendingIPResponse:
        # The check inline, not ``await self._authorize``: a coroutine per pick is measurable.
        denial = self.authorizer.check(cast(Metadata, context.invocation_metadata()), "route", (request.account_id,))
        if denial is not None:
            await context.abort(*denial)
        try:
            return self.engine.select(request, validate.select_provider(request, self.providers))
        except (RequestError, NoGeneralPool, NotLoaded) as exc:
            await self._abort(context, exc)

    async def SelectSendingIPBatch(
        self, request: router_pb2.SelectSendingIPBatchRequest, context: Context
    ) -> router_pb2.SelectSendingIPBatchResponse:
        requests = request.requests
        await self._authorize(context, list({r.account_id for r in requests}))
        try:
            validate.batch_size(len(requests), self.max_batch, "requests")
            providers = _providers(requests, self.providers)
            select = self.engine.select
            # Validated as a whole first: a bad batch counts nothing.
            return router_pb2.SelectSendingIPBatchResponse(
                responses=[select(r, p) for r, p in zip(requests, providers, strict=True)]
            )
        except (RequestError, NoGeneralPool, NotLoaded) as exc:
            await self._abort(context, exc)

    async def SelectSendingIPStream(
        self, request_iterator: AsyncIterator[router_pb2.SelectSendingIPRequest], context: Context
    ) -> AsyncIterator[router_pb2.SelectSendingIPResponse]:
        i = 0
        metadata = cast(Metadata, context.invocation_metadata())
        async for request in request_iterator:
            if self.draining:
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE,
                    f"the router is shutting down; stream[{i}] and later were not answered: send them again",
                )
            denial = self.authorizer.check(metadata, "route", (request.account_id,))
            if denial is not None:
                await context.abort(*denial)
            try:
                yield self.engine.select(request, _provider(request, self.providers, i, "stream"))
            except (RequestError, NoGeneralPool, NotLoaded) as exc:
                await self._abort(context, exc)
            i += 1

    async def ReportOutcomes(
        self, request: router_pb2.ReportOutcomesRequest, context: Context
    ) -> router_pb2.ReportOutcomesResponse:
        outcomes = request.outcomes
        await self._authorize(context, list({o.account_id for o in outcomes}))
        try:
            validate.batch_size(len(outcomes), self.max_batch, "outcomes")
            totals: dict[OutcomeKey, list[int]] = {}
            for i, o in enumerate(outcomes):
                key = validate.outcome(o, self.providers, f"outcomes[{i}].")
                sums = totals.setdefault(key, [0, 0, 0, 0])
                sums[0] += o.delivered
                sums[1] += o.deferred
                sums[2] += o.bounced
                sums[3] += o.complained
            if totals:
                await self.write_outcomes(totals)
        except (RequestError, OutcomesUnavailable) as exc:
            await self._abort(context, exc)
        return router_pb2.ReportOutcomesResponse(accepted=len(outcomes))
