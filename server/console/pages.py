"""The console's pages: each reads or writes through the Management servicer's own methods
(``Page.call``), so the key's permissions and account scope are checked there, exactly as
for a gRPC call, and a refusal becomes an error page (``routes.py``)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from markupsafe import Markup

from sendingip.v1 import management_pb2, types_pb2
from server.auth.authorizer import ActiveKey
from server.console import chart, history, render, web
from server.console.web import BadRequest, Reply, Request
from server.management.servicer import ACQUIRE_TIMEOUT, Context, ManagementServicer
from server.refusal import Refusal

T = TypeVar("T")
ACCOUNTS_PAGE_SIZE = 50
IPS_PAGE_SIZE = 100
AUDIT_PAGE_SIZE = 50
#: Audit events shown on an account's page.
RECENT_EVENTS = 10


@dataclass(frozen=True)
class Page:
    """One signed-in request: who asks, and how to call the servicer as them."""

    request: Request
    key: ActiveKey
    csrf: str
    servicer: ManagementServicer
    context: Context

    async def call(self, method: Callable[[Any, Context], Awaitable[T]], message: Any) -> T:
        return await method(message, self.context)

    def render(self, template: str, section: str, **values: Any) -> Reply:
        return web.html(200, render.page(template, key=self.key, csrf=self.csrf, section=section, **values))

    def may_admin(self, account_id: str | None = None) -> bool:
        """Whether to show the buttons (the servicer decides again when one is pressed)."""
        if not self.key.allows("admin"):
            return False
        return self.key.accounts is None or (account_id is not None and account_id in self.key.accounts)


def _pager(path: str, filters: dict[str, str], current: str, next_token: str) -> dict[str, str]:
    """A paged list's links: back to its first page, on to the next ('' after the last)."""
    return {
        "page_token": current,
        "first_url": web.url(path, **filters),
        "next_url": next_token and web.url(path, **filters, page=next_token),
    }


async def accounts(page: Page) -> Reply:
    q = page.request.query
    notice = ""
    if q.get("q"):
        try:
            found = await page.call(page.servicer.GetAccount, management_pb2.GetAccountRequest(account_id=q["q"]))
            return web.redirect(web.account_path(found.account_id))
        except Refusal as r:
            notice = f"No account to show for {q['q']!r}: {r.message}"
    kind = q.get("type", "")
    if kind and kind not in render.TYPE_FILTER:
        raise BadRequest(f"type: expected one of {', '.join(render.TYPE_FILTER)}, got {kind!r}")
    response = await page.call(
        page.servicer.ListAccounts,
        management_pb2.ListAccountsRequest(
            region=q.get("region", ""),
            management_type=render.TYPE_FILTER.get(kind, types_pb2.MANAGEMENT_TYPE_UNSPECIFIED),
            page_size=ACCOUNTS_PAGE_SIZE,
            page_token=q.get("page", ""),
        ),
    )
    filters = {"region": q.get("region", ""), "type": kind}
    return page.render(
        "accounts.html",
        "accounts",
        accounts=response.accounts,
        q=q.get("q", ""),
        region=filters["region"],
        type=kind,
        notice=notice,
        **_pager("/console/accounts", filters, q.get("page", ""), response.next_page_token),
    )


async def account(page: Page, account_id: str) -> Reply:
    table = await page.call(page.servicer.ListSendingIPs, management_pb2.ListSendingIPsRequest(account_id=account_id))
    events = await page.call(
        page.servicer.ListAuditEvents,
        management_pb2.ListAuditEventsRequest(account_id=account_id, page_size=RECENT_EVENTS),
    )
    # The servicer allowed this key to view the account (above); the charts read its history.
    today = page.servicer.clock().date()
    async with page.servicer.pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
        series = await history.load(conn, account_id, today)
    return page.render(
        "account.html",
        "accounts",
        account=table.account,
        ips=table.ips,
        charts=[Markup(chart.render(s)) for s in series],
        window_days=history.WINDOW_DAYS,
        events=events.events,
        admin=page.may_admin(account_id),
    )


async def pause(page: Page, account_id: str) -> Reply:
    await page.call(page.servicer.PauseWarmup, management_pb2.PauseWarmupRequest(account_id=account_id))
    return web.redirect(web.account_path(account_id))


async def resume(page: Page, account_id: str) -> Reply:
    await page.call(page.servicer.ResumeWarmup, management_pb2.ResumeWarmupRequest(account_id=account_id))
    return web.redirect(web.account_path(account_id))


async def set_mode(page: Page, account_id: str) -> Reply:
    mode = page.request.field("mode")
    await page.call(
        page.servicer.SetAccountMode, management_pb2.SetAccountModeRequest(account_id=account_id, mode=mode)
    )
    return web.redirect(web.account_path(account_id))


async def inventory(page: Page) -> Reply:
    q = page.request.query
    filters = {"region": q.get("region", ""), "state": q.get("state", ""), "account": q.get("account", "")}
    regions = await page.call(page.servicer.ListRegions, management_pb2.ListRegionsRequest())
    ips = await page.call(
        page.servicer.ListIPs,
        management_pb2.ListIPsRequest(
            region=filters["region"],
            state=filters["state"],
            account_id=filters["account"],
            page_size=IPS_PAGE_SIZE,
            page_token=q.get("page", ""),
        ),
    )
    return page.render(
        "inventory.html",
        "inventory",
        regions=regions.regions,
        ips=ips.ips,
        admin=page.may_admin(),
        back=web.url("/console/inventory", **filters, page=q.get("page", "")),
        **_pager("/console/inventory", filters, q.get("page", ""), ips.next_page_token),
        **filters,
    )


#: Where a block/unblock form may send the browser back to: the inventory page, any filter.
_BACK = re.compile(r"/console/inventory(\?[A-Za-z0-9_.~%&=+:-]*)?")


def _back(page: Page) -> str:
    back = page.request.field("back")
    return back if _BACK.fullmatch(back) else "/console/inventory"


def _addresses(page: Page) -> list[str]:
    addresses = list(page.request.form.get("address", ()))
    if not addresses:
        raise BadRequest("no IP address checked: check the IPs to block or unblock")
    return addresses


async def block(page: Page) -> Reply:
    request = management_pb2.BlockIPsRequest(addresses=_addresses(page), reason=page.request.field("reason"))
    await page.call(page.servicer.BlockIPs, request)
    return web.redirect(_back(page))


async def unblock(page: Page) -> Reply:
    await page.call(page.servicer.UnblockIPs, management_pb2.UnblockIPsRequest(addresses=_addresses(page)))
    return web.redirect(_back(page))


async def audit(page: Page) -> Reply:
    q = page.request.query
    filters = {"account": q.get("account", ""), "since": q.get("since", ""), "kind": q.get("kind", "")}
    response = await page.call(
        page.servicer.ListAuditEvents,
        management_pb2.ListAuditEventsRequest(
            account_id=filters["account"],
            since=filters["since"],
            kinds=[filters["kind"]] if filters["kind"] else [],
            page_size=AUDIT_PAGE_SIZE,
            page_token=q.get("page", ""),
        ),
    )
    return page.render(
        "audit.html",
        "audit",
        events=response.events,
        **_pager("/console/audit", filters, q.get("page", ""), response.next_page_token),
        **filters,
    )
