"""A raw HTTP/1.1 client for the HTTP door (the server: ``inprocess.http_stack``).

It speaks HTTP/1.1 over a plain asyncio socket, byte for byte, so tests can also send
what no HTTP library would (pipelines, garbage, half-closes).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.connection import Connection


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    method: str,
    path: str,
    body: bytes | Mapping[str, Any] | None = None,
    *,
    key: str | None = None,
    headers: Mapping[str, str] | None = None,
    version: str = "1.1",
) -> bytes:
    """The bytes of one request; a mapping body is sent as JSON."""
    data = json.dumps(body).encode() if isinstance(body, Mapping) else body
    lines = [f"{method} {path} HTTP/{version}", "Host: sendingip"]
    if key is not None:
        lines.append(f"Authorization: Bearer {key}")
    if data is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (data or b"")


class Client(Connection):
    """One connection to the door."""

    async def read(self, timeout: float = 10.0) -> Response | None:
        """The next response (interim 1xx ones skipped), or ``None`` at the end of the stream."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    head = await self.reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as exc:
                    assert not exc.partial, f"the stream ended inside a response head: {exc.partial!r}"
                    return None
                status_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
                status = int(status_line.split(" ", 2)[1])
                headers = {}
                for line in lines:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                if 100 <= status < 200:
                    continue
                body = await self.reader.readexactly(int(headers.get("content-length", "0")))
                return Response(status, headers, body)

    async def closed(self, timeout: float = 5.0) -> bool:
        """Whether the server ends the stream (EOF or reset) within ``timeout`` with nothing
        more; the client is closed either way."""
        try:
            async with asyncio.timeout(timeout):
                rest = await self.reader.read()
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        finally:
            await self.close()
        assert rest == b"", f"unexpected bytes after the last response: {rest[:200]!r}"
        return True

    async def call(self, data: bytes) -> Response:
        await self.send(data)
        response = await self.read()
        assert response is not None, "the server closed the connection without an answer"
        return response


async def call(port: int, data: bytes) -> Response:
    """One request on a new connection."""
    client = await Client.open(port)
    try:
        return await client.call(data)
    finally:
        await client.close()


async def until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
