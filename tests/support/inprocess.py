"""`sendingip serve` started in the test's own process, on free ports.

One start-up and one shutdown for every integration test that talks to a server over
real sockets, so that a change to how the server is wired is made here once. With
``keys`` the server is assembled by ``server.app.Assembly``, as `sendingip serve`
assembles it: API keys from PostgreSQL, the Management service, the doors. Without,
it is the router alone with the ``authorizer`` it is given (every call allowed by
default), and the doors when ``doors`` is set.

The test keeps the process's objects at hand (``runtime``, ``doors``, ...) to look
inside, which a server in a subprocess (``tests/support/processes.py``) cannot offer.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from sendingip.v1 import management_pb2_grpc, router_pb2_grpc
from server import app
from server.adapters.config import AdapterConfig
from server.adapters.runtime import Doors
from server.authz import AllowAll, Authorizer
from server.config import RouterConfig, ServerConfig
from server.router.runtime import RouterRuntime
from store.config import DatabaseConfig
from tests.support.requests import bearer, pick_request

#: Quick flushes and a short shutdown, so that tests see the history soon and stop fast.
QUICK: Mapping[str, object] = {"flush_interval": 0.05, "shutdown_flush_timeout": 1.0}


def server_config(
    url: str, data_dir: Path, router: Mapping[str, object], adapters: Mapping[str, object] | None = None
) -> ServerConfig:
    """A configuration listening on a free port; ``router`` and ``adapters`` are the fields
    of ``RouterConfig`` and ``AdapterConfig`` that differ from their defaults."""
    return ServerConfig(
        listen="127.0.0.1:0",
        database=DatabaseConfig(url=url, data_dir=data_dir),
        router=RouterConfig(**router),  # type: ignore[arg-type]
        adapters=AdapterConfig(**(adapters or {})),  # type: ignore[arg-type]
    )


@dataclass
class InProcessServer:
    config: ServerConfig
    runtime: RouterRuntime
    app: app.App
    #: ``None`` unless the doors were asked for.
    doors: Doors | None
    #: The router's ``run()``; ``None`` for a router that was not started.
    task: asyncio.Task[None] | None
    channel: grpc.aio.Channel
    stub: router_pb2_grpc.RouterStub
    admin: management_pb2_grpc.ManagementStub
    authorizer: Authorizer
    #: The API key the test's calls carry (``metadata``); ``None``: none.
    key: str | None
    #: Stops Management and the key refresh (``keys`` only).
    stop_access: Callable[[], Awaitable[None]] | None = None

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return bearer(self.key) if self.key is not None else ()

    def door_port(self, door: str) -> int:
        assert self.doors is not None, "started without its doors"
        return self.doors.ports[door]

    @property
    def port(self) -> int:
        """The HTTP door's port."""
        return self.door_port("http")

    @property
    def line_port(self) -> int:
        return self.door_port("line")

    @property
    def postfix_port(self) -> int:
        return self.door_port("postfix")

    async def grpc_ip(self, account: str, message: str, domain: str = "gmail.com", **fields: object) -> str:
        """What gRPC answers for the same request, as a retry (so it is not counted)."""
        request = pick_request(message, account, domain, retry=True, **fields)
        return str((await self.stub.SelectSendingIP(request, metadata=self.metadata)).ip)

    def metrics(self) -> str:
        """The Prometheus page (a router configured with a ``metrics_listen``)."""
        port = self.runtime.metrics.port if self.runtime.metrics else 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return str(response.read().decode())

    async def stop(self) -> None:
        await self.channel.close()
        if self.doors is not None:
            await self.doors.stop()
        await self.app.stop(0)
        await self.runtime.stop()
        if self.stop_access is not None:
            await self.stop_access()
        if self.task is not None:
            await self.task


async def start_server(
    config: ServerConfig,
    *,
    keys: bool = False,
    authorizer: Authorizer | None = None,
    doors: bool = False,
    run: bool = True,
    wait_ready: bool = True,
    key: str | None = None,
) -> InProcessServer:
    """``run``: the router's loop started (else it never loads a table); ``wait_ready``:
    returned once its first table is loaded."""
    stop_access = None
    open_doors: Doors | None = None
    if keys:
        assembly = await app.Assembly.start(config)
        runtime, server, open_doors = assembly.router, assembly.server, assembly.doors
        authorizer, stop_access = assembly.auth.authorizer, assembly.stop_access
    else:
        authorizer = authorizer or AllowAll()
        runtime = RouterRuntime(config, authorizer)
        server = await app.create_server(config, [runtime.add_to_server], options=runtime.grpc_options())
        await server.start(config.listen)
        try:
            open_doors = await Doors.start(config.adapters, runtime, None) if doors else None
        except BaseException:  # e.g. ListenError: a door may not listen there
            await server.stop(0)
            raise
    task = asyncio.create_task(runtime.run()) if run else None
    if run and wait_ready:
        await asyncio.wait_for(runtime.ready.wait(), 10)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    return InProcessServer(
        config,
        runtime,
        server,
        open_doors,
        task,
        channel,
        router_pb2_grpc.RouterStub(channel),  # type: ignore[no-untyped-call]
        management_pb2_grpc.ManagementStub(channel),  # type: ignore[no-untyped-call]
        authorizer,
        key,
        stop_access,
    )


@asynccontextmanager
async def served(config: ServerConfig, **options: Any) -> AsyncIterator[InProcessServer]:
    """``start_server`` for the length of a ``with``; ``options`` are its."""
    server = await start_server(config, **options)
    try:
        yield server
    finally:
        await server.stop()


class Servers:
    """The servers one test started, stopped at its end (the ``start_*`` fixtures)."""

    def __init__(self) -> None:
        self.started: list[InProcessServer] = []

    async def start(self, config: ServerConfig, **options: Any) -> InProcessServer:
        """``start_server``'s; the server is stopped with the others."""
        server = await start_server(config, **options)
        self.started.append(server)
        return server

    async def stop(self) -> None:
        for server in self.started:
            await server.stop()


@asynccontextmanager
async def http_stack(
    url: str,
    data_dir: Path,
    *,
    keys: bool = True,
    wait_ready: bool = True,
    adapters: Mapping[str, object] | None = None,
    **router: object,
) -> AsyncIterator[InProcessServer]:
    """The server with its HTTP door open (the door's tests); ``keys``: real API keys and
    Management (else every call is allowed, no Management)."""
    settings = {**QUICK, "router_id": "http-test", "poll_interval": 30.0, "metrics_listen": "", "max_batch": 10}
    config = server_config(url, data_dir, {**settings, **router}, {"http_listen": "127.0.0.1:0", **(adapters or {})})
    async with served(config, keys=keys, doors=True, wait_ready=wait_ready) as server:
        yield server
