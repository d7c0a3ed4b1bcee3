"""The HTTP door's test stack and a raw HTTP/1.1 client (no tests of their own).

``http_stack`` starts what ``sendingip serve`` starts, in this process: the router, the
Management service with real API keys from PostgreSQL, the gRPC server and the doors, all
on free ports. The client speaks HTTP/1.1 over a plain asyncio socket, byte for byte, so
tests can also send what no HTTP library would (pipelines, garbage, half-closes).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from sendingip.v1 import management_pb2_grpc, router_pb2_grpc
from server import app
from server.adapters.config import AdapterConfig
from server.adapters.runtime import Doors
from server.authz import AllowAll
from server.config import RouterConfig, ServerConfig
from server.management.runtime import ManagementRuntime
from server.router.runtime import RouterRuntime
from store.config import DatabaseConfig


@dataclass
class Stack:
    runtime: RouterRuntime
    management: ManagementRuntime | None
    server: app.App
    doors: Doors
    channel: grpc.aio.Channel
    router: router_pb2_grpc.RouterStub
    admin: management_pb2_grpc.ManagementStub
    task: asyncio.Task[None]

    @property
    def port(self) -> int:
        """The HTTP door's port."""
        return self.doors.ports["http"]

    async def stop(self) -> None:
        await self.channel.close()
        await self.doors.stop()
        await self.server.stop(0)
        await self.runtime.stop()
        if self.management is not None:
            await self.management.stop()
        await self.task


@asynccontextmanager
async def http_stack(
    url: str,
    data_dir: Path,
    *,
    keys: bool = True,
    wait_ready: bool = True,
    adapters: Mapping[str, Any] | None = None,
    **router: object,
) -> AsyncIterator[Stack]:
    """``keys``: real API keys and Management (else every call is allowed, no Management)."""
    settings: dict[str, object] = {
        "router_id": "http-test",
        "flush_interval": 0.05,
        "poll_interval": 30.0,
        "metrics_listen": "",
        "max_batch": 10,
        "shutdown_flush_timeout": 1.0,
    }
    settings.update(router)
    config = ServerConfig(
        listen="127.0.0.1:0",
        database=DatabaseConfig(url=url, data_dir=data_dir),
        router=RouterConfig(**settings),  # type: ignore[arg-type]
        adapters=AdapterConfig(http_listen="127.0.0.1:0", **(adapters or {})),
    )
    management = await ManagementRuntime.start(config) if keys else None
    runtime = RouterRuntime(config, management.authorizer if management else AllowAll())
    services = [runtime.add_to_server] + ([management.add_to_server] if management else [])
    server = await app.create_server(config, services, options=runtime.grpc_options())
    await server.start(config.listen)
    doors = await Doors.start(config.adapters, runtime, management.servicer if management else None)
    task = asyncio.create_task(runtime.run())
    if wait_ready:
        await asyncio.wait_for(runtime.ready.wait(), 10)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    stack = Stack(
        runtime,
        management,
        server,
        doors,
        channel,
        router_pb2_grpc.RouterStub(channel),  # type: ignore[no-untyped-call]
        management_pb2_grpc.ManagementStub(channel),  # type: ignore[no-untyped-call]
        task,
    )
    try:
        yield stack
    finally:
        await stack.stop()


# -- the client ---------------------------------------------------------------------


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


class Client:
    """One connection to the door."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

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

    async def close(self) -> None:
        self.writer.close()
        with suppress(OSError):  # ConnectionError is one
            await self.writer.wait_closed()


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
