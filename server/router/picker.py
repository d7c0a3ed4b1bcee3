"""``Picker``: access check, validation and the engine, for one pick or a batch.

Every door calls this and nothing below it: the gRPC servicer, the HTTP door and the
MTA doors (``server/adapters``). So a request is refused by the same rules with the same
message, and answered by the same ``Engine``, whichever way it came in. Failures raise
``Refusal`` with the status code SPEC §3 gives them; a door only changes the format.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence

import grpc

from server import validate
from server.authz import Authorizer, Metadata
from server.refusal import Refusal
from server.router.engine import Answer, Engine, NotLoaded, Request
from server.router.pick import NoGeneralPool
from server.router.providers import ProviderTable
from server.validate import RequestError, SelectRequest

#: What a refused pick raises below the picker, and the status each one answers with.
PICK_ERRORS = (RequestError, NoGeneralPool, NotLoaded)


def refusal(exc: Exception) -> Refusal:
    """The ``Refusal`` for one of ``PICK_ERRORS``."""
    if isinstance(exc, RequestError):
        return Refusal(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    if isinstance(exc, NoGeneralPool):
        return Refusal(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
    if isinstance(exc, NotLoaded):
        return Refusal(grpc.StatusCode.UNAVAILABLE, str(exc))
    raise exc


class Picker:
    def __init__(self, engine: Engine, providers: ProviderTable, authorizer: Authorizer, *, max_batch: int) -> None:
        self.engine = engine
        self.providers = providers
        self.authorizer = authorizer
        self.max_batch = max_batch

    def select(self, metadata: Metadata | None, request: SelectRequest) -> Answer:
        denial = self.authorizer.check(metadata, "route", (request.account_id,))
        if denial is not None:
            raise Refusal(*denial)
        try:
            provider = validate.select_provider(request, self.providers)
            return self.engine.choose(request.account_id, request.message_id, request.region, provider, request.retry)
        except PICK_ERRORS as exc:
            raise refusal(exc) from None

    def select_one_of(self, metadata: Metadata | None, request: SelectRequest, i: int, name: str) -> Answer:
        """``select`` for item ``i`` of a stream: a bad item's field is named ``stream[3].…``."""
        denial = self.authorizer.check(metadata, "route", (request.account_id,))
        if denial is not None:
            raise Refusal(*denial)
        try:
            provider = _provider(request, self.providers, i, name)
            return self.engine.choose(request.account_id, request.message_id, request.region, provider, request.retry)
        except PICK_ERRORS as exc:
            raise refusal(exc) from None

    def select_batch(self, metadata: Metadata | None, requests: Sequence[SelectRequest]) -> list[Answer]:
        """All or nothing: the whole batch is checked and validated before anything is counted.

        The accounts go to the key check as a generator: a key for every account never
        reads them, a key for some stops at the first it may not access. A batch makes some
        ten thousand objects and no reference cycle, so the cyclic collector is paused
        while it is answered (as the loader and the rebalancer do): its passes over them
        were 5% of a batch's time."""
        denial = self.authorizer.check(metadata, "route", (r.account_id for r in requests))
        if denial is not None:
            raise Refusal(*denial)
        collecting = gc.isenabled()
        gc.disable()
        try:
            validate.batch_size(len(requests), self.max_batch, "requests")
            return self.engine.choose_all(_validated(requests, self.providers))
        except PICK_ERRORS as exc:
            raise refusal(exc) from None
        finally:
            if collecting:
                gc.enable()


def _provider(request: SelectRequest, providers: ProviderTable, i: int, name: str) -> str:
    """``validate.select_provider`` for item ``i`` of a batch or stream. The field prefix
    (``requests[3].``) is formatted only for a bad item: per item it cost more than the check."""
    try:
        return validate.select_provider(request, providers)
    except RequestError:
        validate.select_provider(request, providers, f"{name}[{i}].")
        raise


def _validated(requests: Sequence[SelectRequest], providers: ProviderTable) -> list[Request]:
    """Every request of a batch validated, as the engine takes them; a bad one raises the
    ``RequestError`` of the first bad item, named ``requests[i].…``. One pass that reads each
    field once (a protobuf message makes a new str at every read of a string field)."""
    check = validate.select_fields
    out: list[Request] = []
    append = out.append
    try:
        for r in requests:
            account, message, region = r.account_id, r.message_id, r.region
            provider = check(account, message, region, r.mailbox_provider, r.recipient_domain, providers)
            append((account, message, region, provider, r.retry))
    except RequestError:
        for i, r in enumerate(requests):
            _provider(r, providers, i, "requests")
        raise
    return out
