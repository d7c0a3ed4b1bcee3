"""The web console (SPEC §6) over real HTTP, without a browser: sign-in, the session
cookie's flags, CSRF on every POST, the key's permissions and account scope on every
page, and bad input answered with a 4xx page, never a 500.

The browser tests (``tests/e2e/test_console_browser.py``) drive the same pages in Chromium.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from server.account_facts import SENDING_IP_HEADERS as STATUS_HEADERS
from server.auth.store import create_key, revoke_key
from server.console import session
from tests.support.console import Browserless, csrf_of, seed
from tests.support.http_client import until
from tests.support.inprocess import InProcessServer, http_stack

pytestmark = pytest.mark.integration


@dataclass
class Stack:
    server: InProcessServer
    dedicated_ip: str
    admin: str
    view: str
    route: str
    #: view, limited to the account "other"
    scoped: str

    def client(self) -> Browserless:
        return Browserless(self.server.port)


@pytest.fixture
async def stack(db: asyncpg.Connection, db_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    dedicated_ip = await seed(db_url)

    async def make(permissions: list[str], accounts: list[str] | None = None) -> str:
        new, _ = await create_key(db, permissions, accounts)
        return new.token

    keys = [await make(["view", "admin"]), await make(["view"]), await make(["route"]), await make(["view"], ["other"])]
    async with http_stack(db_url, tmp_path) as server:
        yield Stack(server, dedicated_ip, *keys)


def _headers(html: str, table_id: str) -> list[str]:
    """The text of the header cells of the table ``table_id``."""
    head = html.split(f'id="{table_id}"', 1)[1].split("</thead>", 1)[0]
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)]


def _cells(html: str, table_id: str) -> list[list[str]]:
    """The text of each body row's cells of the table ``table_id``."""
    table = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]


async def test_sign_in_sets_an_httponly_strict_cookie_and_refuses_bad_keys(stack: Stack) -> None:
    c = stack.client()
    home = await c.get("/")
    assert (home.status, home.headers["location"]) == (303, "/console/accounts")
    anonymous = await c.get("/console/accounts")
    assert (anonymous.status, anonymous.headers["location"]) == (303, "/console/sign-in")

    form = await c.get("/console/sign-in")
    assert form.status == 200 and 'name="key"' in form.text
    assert any("HttpOnly" in v and "SameSite=Strict" in v for v in form.set_cookies)
    token = csrf_of(form.text)

    wrong = await c.post("/console/sign-in", {"key": "sip_abcdefgh_" + "x" * 43, "csrf": token})
    assert wrong.status == 401 and "unknown or revoked API key" in wrong.text
    assert session.COOKIE not in c.cookies
    malformed = await c.post("/console/sign-in", {"key": "hunter2", "csrf": csrf_of(wrong.text)})
    assert malformed.status == 401 and "malformed API key" in malformed.text
    no_view = await c.post("/console/sign-in", {"key": stack.route, "csrf": csrf_of(malformed.text)})
    assert no_view.status == 403 and "lacks the &#39;view&#39; permission" in no_view.text
    forged = await c.post("/console/sign-in", {"key": stack.admin, "csrf": "not-the-form-token"})
    assert forged.status == 403 and session.COOKIE not in c.cookies

    signed_in = await c.sign_in(stack.admin)
    assert (signed_in.status, signed_in.headers["location"]) == (303, "/console/accounts")
    cookie = next(v for v in signed_in.set_cookies if v.startswith(f"{session.COOKIE}="))
    assert {"HttpOnly", "SameSite=Strict", "Path=/console"} <= {p.strip() for p in cookie.split(";")}
    assert stack.admin not in cookie and stack.admin.split("_", 2)[2] not in cookie  # the key, nor its secret

    accounts = await c.get("/console/accounts")
    assert accounts.status == 200
    assert [row[0] for row in _cells(accounts.text, "accounts")] == ["acme", "other"]
    assert "content-security-policy" in accounts.headers and accounts.headers["cache-control"] == "no-store"

    # A cookie whose expiry is pushed out no longer verifies.
    version, key_id, expires, nonce, mac = c.cookies[session.COOKIE].split(".")
    c.cookies[session.COOKIE] = ".".join((version, key_id, str(int(expires) + 3600), nonce, mac))
    tampered = await c.get("/console/accounts")
    assert (tampered.status, tampered.headers["location"]) == (303, "/console/sign-in")


async def test_the_account_page_shows_the_seed_table_its_reason_and_charts(stack: Stack) -> None:
    c = stack.client()
    await c.sign_in(stack.view)
    page = await c.get("/console/accounts/acme")
    assert page.status == 200, page.text
    rows = {row[0]: row for row in _cells(page.text, "sending-ips")}
    assert _headers(page.text, "sending-ips") == list(STATUS_HEADERS)  # the table of `sendingip status`
    assert rows[stack.dedicated_ip][1:5] == ["us-east", "dedicated:acme", "Dedicated", "In Progress"]
    assert rows["192.0.2.1"][1:4] == ["us-east", "general:us-east", "General"]
    assert re.search(r'id="management-type">Transition<', page.text)
    # The date is the Transition's start, said so (a bare "Since" read as Dedicated since).
    assert re.search(r"<span>Transition started</span>\d{4}-\d\d-\d\d<", page.text)
    assert "<span>Since</span>" not in page.text
    assert re.search(r"<span>Dedicated IPs</span>\d+ of \d+ required", page.text)
    reason = re.search(r'id="reason">([^<]+)<', page.text)
    assert reason and reason[1].strip() not in ("", "-")
    charts = re.findall(r'<svg class="chart"[^>]* data-provider="([^"]+)"', page.text)
    assert {"google", "microsoft"} <= set(charts), charts
    assert "warm-up limit today" in page.text
    # A view key sees no buttons, and pressing one anyway is refused by the servicer.
    assert 'id="pause-warmup"' not in page.text
    refused = await c.post("/console/accounts/acme/pause", {"csrf": csrf_of(page.text)})
    assert refused.status == 403 and "lacks the &#39;admin&#39; permission" in refused.text


async def test_every_post_checks_its_csrf_token_and_pause_is_audited(stack: Stack, db: asyncpg.Connection) -> None:
    c = stack.client()
    await c.sign_in(stack.admin)
    page = await c.get("/console/accounts/acme")
    token = csrf_of(page.text)

    for fields in ({}, {"csrf": ""}, {"csrf": token[:-2] + "xx"}):
        refused = await c.post("/console/accounts/acme/pause", fields)
        assert refused.status == 403 and "CSRF" in refused.text
    assert not await db.fetchval("SELECT warmup_paused FROM accounts WHERE account_id = 'acme'")
    other = Browserless(stack.server.port)
    await other.sign_in(stack.admin)
    assert (await other.post("/console/accounts/acme/pause", {"csrf": token})).status == 403  # another session's

    done = await c.post("/console/accounts/acme/pause", {"csrf": token})
    assert (done.status, done.headers["location"]) == (303, "/console/accounts/acme")
    assert await db.fetchval("SELECT warmup_paused FROM accounts WHERE account_id = 'acme'")
    audit = await c.get("/console/audit?account=acme&kind=PauseWarmup")
    events = _cells(audit.text, "audit-events")
    assert events and events[0][1:4] == [stack.admin.split("_")[1], "PauseWarmup", "acme"]

    blocked = await c.post("/console/ips/block", {"csrf": token, "address": "10.0.0.4", "reason": "listed on SBL"})
    assert (blocked.status, blocked.headers["location"]) == (303, "/console/inventory")
    shown = _cells((await c.get("/console/inventory?state=blocked")).text, "ips")
    assert [(row[1], row[4], row[9]) for row in shown] == [("10.0.0.4", "blocked", "listed on SBL")]
    back = "/console/inventory?state=blocked"
    unblocked = await c.post("/console/ips/unblock", {"csrf": token, "address": "10.0.0.4", "back": back})
    assert (unblocked.status, unblocked.headers["location"]) == (303, back)
    assert _cells((await c.get(back)).text, "ips") == [["No IPs match."]]
    sneaky = {"csrf": token, "address": "10.0.0.4", "back": "/console/inventory\r\nSet-Cookie: x=1"}
    unblocked = await c.post("/console/ips/unblock", sneaky)
    assert unblocked.headers["location"] == "/console/inventory" and "x=1" not in str(unblocked.set_cookies)

    mode = await c.post("/console/accounts/acme/mode", {"csrf": token, "mode": "frozen"})
    assert mode.status == 303
    assert await db.fetchval("SELECT mode FROM accounts WHERE account_id = 'acme'") == "frozen"
    assert (await c.post("/console/sign-out", {"csrf": token})).status == 303
    assert session.COOKIE not in c.cookies
    assert (await c.get("/console/accounts")).status == 303


async def test_bad_input_gets_a_4xx_page_never_a_500(stack: Stack) -> None:
    c = stack.client()
    await c.sign_in(stack.admin)
    token = csrf_of((await c.get("/console/accounts")).text)
    cases = {
        "/console/accounts?type=bogus": (400, "type: expected one of"),
        "/console/accounts?page=garbage": (400, "INVALID_ARGUMENT"),
        "/console/accounts?region=" + "x" * 300: (400, "INVALID_ARGUMENT"),
        "/console/accounts/bad%20id": (400, "account_id"),
        "/console/accounts/%ff": (400, "the URL cannot be read"),
        "/console/accounts/nobody": (404, "NOT_FOUND"),
        "/console/audit?since=yesterday": (400, "INVALID_ARGUMENT"),
        "/console/inventory?state=bogus": (400, "INVALID_ARGUMENT"),
        "/console/accounts/acme/pause": (405, "use POST"),
        "/console/nothing-here": (404, "no such page"),
    }
    for path, (status, needle) in cases.items():
        page = await c.get(path)
        assert (page.status, needle in page.text) == (status, True), (path, page.status, page.text[-600:])
    posts = [
        ("/console/accounts/acme/mode", {"csrf": token, "mode": "sideways"}, 400),
        ("/console/ips/block", {"csrf": token, "reason": "listed"}, 400),
        ("/console/ips/block", {"csrf": token, "address": "not-an-ip", "reason": "listed"}, 400),
        ("/console/ips/block", {"csrf": token, "address": "192.0.2.1", "reason": ""}, 400),
        ("/console/accounts/nobody/pause", {"csrf": token}, 404),
    ]
    for path, fields, status in posts:
        page = await c.post(path, fields)
        assert page.status == status, (path, fields, page.text[-600:])
    raw = await c._send("POST", "/console/accounts/acme/pause", b"csrf=%ff%fe")
    assert raw.status == 400


async def test_a_scoped_key_sees_only_its_accounts_on_every_page(stack: Stack) -> None:
    c = stack.client()
    await c.sign_in(stack.scoped)
    accounts = await c.get("/console/accounts")
    assert [row[0] for row in _cells(accounts.text, "accounts")] == ["other"]
    assert (await c.get("/console/accounts/other")).status == 200
    for path in ("/console/accounts/acme", "/console/audit?account=acme", "/console/inventory?account=acme"):
        page = await c.get(path)
        assert page.status == 403 and "may not access account &#39;acme&#39;" in page.text, path
    searched = await c.get("/console/accounts?q=acme")
    assert searched.status == 200 and "may not access account" in searched.text
    inventory = await c.get("/console/inventory")
    assert inventory.status == 200
    assert all(row[4] in ("other", "-") for row in _cells(inventory.text, "ips") if len(row) > 4)


async def test_a_session_holds_on_every_router_and_ends_when_its_key_is_revoked(
    stack: Stack, db: asyncpg.Connection, db_url: str, tmp_path: Path
) -> None:
    """`serve --processes N` hands a browser's connections to any member: the cookie is
    verified by the key's stored hash, which every router holds, not by a session in memory."""
    c = stack.client()
    await c.sign_in(stack.view)
    async with http_stack(db_url, tmp_path / "second") as second:
        elsewhere = Browserless(second.port)
        elsewhere.cookies = dict(c.cookies)
        page = await elsewhere.get("/console/accounts/acme")
        assert page.status == 200 and 'id="sending-ips"' in page.text

    await revoke_key(db, stack.view.split("_")[1])

    async def signed_out() -> bool:
        return (await c.get("/console/accounts")).status == 303

    await until(signed_out)
