"""What the web console's tests share: a database with something to show, and a small
cookie-keeping HTTP client for the tests that need no browser.

``seed`` gives ``us-east`` a general pool and an inventory, ``acme`` 40 days of history over
the threshold and ``other`` a little; a rebalance ten days ago moved ``acme`` into
Transition, it has sent part of its mail from its dedicated IP since, and today's rebalance
stands. So the account page has a table with both pool types, a reason and a chart.
"""

from __future__ import annotations

import asyncio
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import unescape

from store.database import create_pool
from workers.rebalance.run import rebalance

SEED = """
INSERT INTO regions (region) VALUES ('us-east');
INSERT INTO pools (pool_id, region, pool_type) VALUES ('general:us-east', 'us-east', 'general');
INSERT INTO ip_addresses (address, region, state, pool_id)
    VALUES ('192.0.2.1', 'us-east', 'general', 'general:us-east'), ('192.0.2.2', 'us-east', 'general', 'general:us-east');
INSERT INTO ip_addresses (address, region, state)
    SELECT '10.0.0.0'::inet + i, 'us-east', 'inventory' FROM generate_series(1, 4) i;
INSERT INTO accounts (account_id, region) VALUES ('acme', 'us-east'), ('other', 'us-east');
INSERT INTO daily_history (day, account_id, ip, mailbox_provider, imported)
    SELECT d::date, a, '192.0.2.1', p, CASE a WHEN 'acme' THEN 20000 ELSE 300 END
    FROM generate_series($1::date - 40, $1::date - 11, interval '1 day') d,
         unnest(ARRAY['google', 'microsoft']) p, unnest(ARRAY['acme', 'other']) a;
"""
#: After the first rebalance: acme's mail of the last ten days, part through its dedicated IP.
SINCE = """
INSERT INTO daily_history (day, account_id, ip, mailbox_provider, imported)
    SELECT d::date, 'acme', ip, p, CASE WHEN ip = '192.0.2.1' THEN 15000 ELSE 5000 END
    FROM generate_series($1::date - 10, $1::date - 1, interval '1 day') d,
         unnest(ARRAY['google', 'microsoft']) p,
         unnest(ARRAY['192.0.2.1', $2::text]) ip;
"""


def today() -> date:
    return datetime.now(UTC).date()


async def seed(url: str) -> str:
    """The seed above on the database at ``url``; returns acme's dedicated IP."""
    day = today()
    pool = await create_pool(url, size=2)
    try:
        async with pool.acquire() as db, db.transaction():
            for statement in SEED.split(";\n"):
                if statement.strip():
                    await db.execute(statement, *([day] if "$1" in statement else []))
        await rebalance(pool, day - timedelta(days=10))
        async with pool.acquire() as db:
            ip = await db.fetchval(
                "SELECT host(address) FROM ip_addresses WHERE pool_id = 'dedicated:acme' ORDER BY address LIMIT 1"
            )
            assert ip, "the first rebalance gave acme no dedicated IP"
            await db.execute(SINCE, day, ip)
        await rebalance(pool, day)
    finally:
        await pool.close()
    return str(ip)


_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token in the page"
    return unescape(found[1])


@dataclass
class Page:
    status: int
    headers: dict[str, str]
    #: Every Set-Cookie header, in order.
    set_cookies: list[str]
    text: str


async def fetch(port: int, method: str, path: str, body: bytes | None, headers: Mapping[str, str]) -> Page:
    """One request on a new connection (``Connection: close``), read to the end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [f"{method} {path} HTTP/1.1", "Host: sendingip", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        raw = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    head, _, content = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found: dict[str, str] = {}
    cookies = []
    for line in header_lines:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        found[name] = value
        if name == "set-cookie":
            cookies.append(value)
    return Page(int(status_line.split(" ", 2)[1]), found, cookies, content.decode())


class Browserless:
    """A client that keeps the console's cookies, as a browser would (no script, no redirects followed)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.last_set_cookies: list[str] = []

    async def get(self, path: str) -> Page:
        return await self._send("GET", path, None)

    async def post(self, path: str, fields: Mapping[str, str | list[str]]) -> Page:
        return await self._send("POST", path, urllib.parse.urlencode(fields, doseq=True).encode())

    async def _send(self, method: str, path: str, body: bytes | None) -> Page:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = await fetch(self.port, method, path, body, headers)
        self.last_set_cookies = response.set_cookies
        for cookie in self.last_set_cookies:
            name, _, rest = cookie.partition("=")
            value = rest.split(";")[0]
            if "Max-Age=0" in rest or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response

    async def sign_in(self, key: str) -> Page:
        form = await self.get("/console/sign-in")
        return await self.post("/console/sign-in", {"key": key, "csrf": csrf_of(form.text)})
