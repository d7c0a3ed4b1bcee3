"""The Management gRPC service: access check, one call into a concern module, errors
mapped to statuses (``errors.status_for``). Nothing else lives here.

``view`` reads and ``admin`` writes (admin implies view). A key limited to accounts
may read only those; operations that concern no single account (AddIPs, UpdatePolicy)
need a key for every account.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Protocol, TypeVar, cast

import asyncpg
import grpc

from sendingip.v1 import management_pb2, management_pb2_grpc, types_pb2
from server.auth.keys import ALL_ACCOUNTS
from server.authz import Denial, Metadata, Permission
from server.management import account_delete, accounts, audit, history, inventory, ip_admin, ips, modes, policy, warmup
from server.management.errors import status_for
from store import audit as audit_log

log = logging.getLogger(__name__)
T = TypeVar("T")
Context = grpc.aio.ServicerContext[object, object]

#: How long a call waits for a pooled connection before it answers UNAVAILABLE.
ACQUIRE_TIMEOUT = 10.0


class Pool(Protocol):
    """``asyncpg.Pool`` or ``LazyPool``."""

    def acquire(self, timeout: float) -> AbstractAsyncContextManager[asyncpg.Connection]: ...


class Caller(Protocol):
    @property
    def key_id(self) -> str: ...

    @property
    def accounts(self) -> frozenset[str] | None: ...


class AccessControl(Protocol):
    """``server.authz.Authorizer`` plus who the caller is (for scopes and the audit)."""

    def check(
        self, metadata: Metadata | None, permission: Permission, accounts: Iterable[str] = ()
    ) -> Denial | None: ...

    def caller(self, metadata: Metadata | None) -> Caller | None: ...


class ManagementServicer(management_pb2_grpc.ManagementServicer):
    def __init__(self, pool: Pool, access: AccessControl, clock: Callable[[], datetime] | None = None) -> None:
        self.pool = pool
        self.access = access
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- reads (view) ------------------------------------------------------------------

    async def ListSendingIPs(
        self, request: management_pb2.ListSendingIPsRequest, context: Context
    ) -> management_pb2.ListSendingIPsResponse:
        today = self.clock().date()
        return await self._call(
            context,
            "ListSendingIPs",
            "view",
            [request.account_id],
            lambda conn: ips.list_sending_ips(conn, request.account_id, today),
        )

    async def GetAccount(self, request: management_pb2.GetAccountRequest, context: Context) -> types_pb2.Account:
        return await self._call(
            context, "GetAccount", "view", [request.account_id], lambda c: accounts.get_account(c, request.account_id)
        )

    async def ListAccounts(
        self, request: management_pb2.ListAccountsRequest, context: Context
    ) -> management_pb2.ListAccountsResponse:
        scope = self._scope(context)

        async def work(conn: asyncpg.Connection) -> management_pb2.ListAccountsResponse:
            page, token = await accounts.list_accounts(
                conn,
                region=request.region,
                management_type=request.management_type,
                page_size=request.page_size,
                page_token=request.page_token,
                scope=scope,
            )
            return management_pb2.ListAccountsResponse(accounts=page, next_page_token=token)

        return await self._call(context, "ListAccounts", "view", (), work)

    async def GetPolicy(self, request: management_pb2.GetPolicyRequest, context: Context) -> types_pb2.Policy:
        scope = self._scope(context)

        async def work(conn: asyncpg.Connection) -> types_pb2.Policy:
            return policy.scoped(await policy.get_policy(conn), scope)

        return await self._call(context, "GetPolicy", "view", (), work)

    # -- writes (admin) ----------------------------------------------------------------

    async def CreateAccount(self, request: management_pb2.CreateAccountRequest, context: Context) -> types_pb2.Account:
        async def work(conn: asyncpg.Connection) -> types_pb2.Account:
            async with conn.transaction():  # the account and its audit event, together
                account, created = await accounts.create_account(conn, request.account_id, request.region)
                if created:
                    await audit_log.record_all(conn, self._caller_id(context), [accounts.created_event(account)])
            if created:
                self._audit(context, "CreateAccount", f"account={account.account_id} region={account.region}")
            return account

        return await self._call(context, "CreateAccount", "admin", [request.account_id], work)

    async def AddIPs(self, request: management_pb2.AddIPsRequest, context: Context) -> management_pb2.AddIPsResponse:
        async def work(conn: asyncpg.Connection) -> management_pb2.AddIPsResponse:
            result = await ips.add_ips(
                conn,
                request.region,
                list(request.addresses),
                request.purpose,
                list(request.hostnames),
                actor=self._caller_id(context),
            )
            self._audit(
                context,
                "AddIPs",
                f"region={request.region} purpose={types_pb2.IpPurpose.Name(request.purpose)} "
                f"added={result.added} already_present={result.already_present}",
            )
            return management_pb2.AddIPsResponse(added=result.added, already_present=result.already_present)

        return await self._call(context, "AddIPs", "admin", [ALL_ACCOUNTS], work)

    async def ImportHistory(
        self, request: management_pb2.ImportHistoryRequest, context: Context
    ) -> management_pb2.ImportHistoryResponse:
        today = self.clock().date()

        async def work(conn: asyncpg.Connection) -> management_pb2.ImportHistoryResponse:
            async with conn.transaction():  # the rows and their audit event, together
                rows = await history.import_history(conn, request.volumes, today)
                await audit_log.record_all(conn, self._caller_id(context), [history.imported_event(request.volumes)])
            self._audit(context, "ImportHistory", f"rows={rows}")
            return management_pb2.ImportHistoryResponse(rows=rows)

        # A key limited to accounts may import only their history.
        touched = {v.account_id for v in request.volumes}
        return await self._call(context, "ImportHistory", "admin", touched, work)

    async def UpdatePolicy(self, request: management_pb2.UpdatePolicyRequest, context: Context) -> types_pb2.Policy:
        async def work(conn: asyncpg.Connection) -> types_pb2.Policy:
            updated = await policy.update_policy(conn, request.policy, self._caller_id(context))
            self._audit(context, "UpdatePolicy", f"updated_at={updated.updated_at}")
            return updated

        return await self._call(context, "UpdatePolicy", "admin", [ALL_ACCOUNTS], work)

    async def PauseWarmup(self, request: management_pb2.PauseWarmupRequest, context: Context) -> types_pb2.Account:
        return await self._set_paused(context, "PauseWarmup", request.account_id, True)

    async def ResumeWarmup(self, request: management_pb2.ResumeWarmupRequest, context: Context) -> types_pb2.Account:
        return await self._set_paused(context, "ResumeWarmup", request.account_id, False)

    async def SetAccountMode(
        self, request: management_pb2.SetAccountModeRequest, context: Context
    ) -> types_pb2.Account:
        async def work(conn: asyncpg.Connection) -> types_pb2.Account:
            account = await modes.set_mode(conn, request.account_id, request.mode, self._caller_id(context))
            self._audit(context, "SetAccountMode", f"account={request.account_id} mode={account.mode}")
            return account

        return await self._call(context, "SetAccountMode", "admin", [request.account_id], work)

    # -- (v2) IP inventory: server/management/inventory.py, ip_admin.py, account_delete.py --

    async def ListIPs(self, request: management_pb2.ListIPsRequest, context: Context) -> management_pb2.ListIPsResponse:
        scope = self._scope(context)
        named = [request.account_id] if request.account_id else ()
        return await self._call(
            context, "ListIPs", "view", named, lambda conn: inventory.list_ips(conn, request, scope)
        )

    async def ListRegions(
        self, request: management_pb2.ListRegionsRequest, context: Context
    ) -> management_pb2.ListRegionsResponse:
        return await self._call(context, "ListRegions", "view", (), inventory.list_regions)

    async def RemoveIPs(
        self, request: management_pb2.RemoveIPsRequest, context: Context
    ) -> management_pb2.RemoveIPsResponse:
        async def work(conn: asyncpg.Connection) -> management_pb2.RemoveIPsResponse:
            done = await ip_admin.remove_ips(conn, self._caller_id(context), request.addresses, self.clock().date())
            self._audit(context, "RemoveIPs", f"removed={done.removed} draining={done.draining}")
            return management_pb2.RemoveIPsResponse(removed=done.removed, draining=done.draining)

        return await self._call(context, "RemoveIPs", "admin", [ALL_ACCOUNTS], work)

    async def BlockIPs(
        self, request: management_pb2.BlockIPsRequest, context: Context
    ) -> management_pb2.BlockIPsResponse:
        async def work(conn: asyncpg.Connection) -> management_pb2.BlockIPsResponse:
            done = await ip_admin.block_ips(conn, self._caller_id(context), request.addresses, request.reason)
            self._audit(context, "BlockIPs", f"blocked={done.changed} already_blocked={done.unchanged}")
            return management_pb2.BlockIPsResponse(blocked=done.changed, already_blocked=done.unchanged)

        return await self._call(context, "BlockIPs", "admin", [ALL_ACCOUNTS], work)

    async def UnblockIPs(
        self, request: management_pb2.UnblockIPsRequest, context: Context
    ) -> management_pb2.UnblockIPsResponse:
        async def work(conn: asyncpg.Connection) -> management_pb2.UnblockIPsResponse:
            done = await ip_admin.unblock_ips(conn, self._caller_id(context), request.addresses)
            self._audit(context, "UnblockIPs", f"unblocked={done.changed} not_blocked={done.unchanged}")
            return management_pb2.UnblockIPsResponse(unblocked=done.changed, not_blocked=done.unchanged)

        return await self._call(context, "UnblockIPs", "admin", [ALL_ACCOUNTS], work)

    async def AssignIPs(
        self, request: management_pb2.AssignIPsRequest, context: Context
    ) -> management_pb2.AssignIPsResponse:
        async def work(conn: asyncpg.Connection) -> management_pb2.AssignIPsResponse:
            account, assigned = await ip_admin.assign_ips(
                conn, self._caller_id(context), request.account_id, request.addresses, self.clock().date()
            )
            self._audit(context, "AssignIPs", f"account={request.account_id} assigned={assigned}")
            return management_pb2.AssignIPsResponse(account=account, assigned=assigned)

        # Free IPs are no account's: handing them out takes a key for every account.
        return await self._call(context, "AssignIPs", "admin", [ALL_ACCOUNTS], work)

    async def DeleteAccount(
        self, request: management_pb2.DeleteAccountRequest, context: Context
    ) -> management_pb2.DeleteAccountResponse:
        async def work(conn: asyncpg.Connection) -> management_pb2.DeleteAccountResponse:
            quarantined = await account_delete.delete_account(
                conn, self._caller_id(context), request.account_id, self.clock().date()
            )
            self._audit(context, "DeleteAccount", f"account={request.account_id} quarantined_ips={quarantined}")
            return management_pb2.DeleteAccountResponse(account_id=request.account_id, quarantined_ips=quarantined)

        return await self._call(context, "DeleteAccount", "admin", [request.account_id], work)

    # -- (v2) the audit log: server/management/audit.py --------------------------------

    async def ListAuditEvents(
        self, request: management_pb2.ListAuditEventsRequest, context: Context
    ) -> management_pb2.ListAuditEventsResponse:
        scope = self._scope(context)
        named = [request.account_id] if request.account_id else ()
        return await self._call(
            context, "ListAuditEvents", "view", named, lambda conn: audit.list_audit_events(conn, request, scope)
        )

    # -- plumbing ----------------------------------------------------------------------

    async def _set_paused(self, context: Context, method: str, account_id: str, paused: bool) -> types_pb2.Account:
        async def work(conn: asyncpg.Connection) -> types_pb2.Account:
            account = await warmup.set_paused(conn, account_id, paused, self._caller_id(context))
            self._audit(context, method, f"account={account_id}")
            return account

        return await self._call(context, method, "admin", [account_id], work)

    async def _call(
        self,
        context: Context,
        method: str,
        permission: Permission,
        account_ids: Iterable[str],
        work: Callable[[asyncpg.Connection], Awaitable[T]],
    ) -> T:
        denial = self.access.check(_metadata(context), permission, account_ids)
        if denial is not None:
            await context.abort(*denial)
        try:
            async with self.pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
                return await work(conn)
        except Exception as exc:  # every failure answers with a status, never a traceback
            code, message = status_for(exc, method)
        await context.abort(code, message)

    def _scope(self, context: Context) -> frozenset[str] | None:
        """The accounts the caller's key is limited to; None: every account."""
        caller = self.access.caller(_metadata(context))
        return caller.accounts if caller is not None else None

    def _caller_id(self, context: Context) -> str:
        caller = self.access.caller(_metadata(context))
        return caller.key_id if caller is not None else "anonymous"

    def _audit(self, context: Context, method: str, details: str) -> None:
        log.info("management method=%s key_id=%s %s", method, self._caller_id(context), details)


def _metadata(context: Context) -> Metadata | None:
    # grpc.aio hands over a tuple of (key, value) pairs; its stubs call it a Collection.
    return cast("Metadata | None", context.invocation_metadata())
