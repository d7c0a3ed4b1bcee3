"""The bounds every door shares (server/adapters/listener.py), over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable

import pytest

from server.adapters import listener as listener_module
from server.adapters.config import AdapterConfig
from server.adapters.listener import Connection, Listener, ListenError


class Echo(Connection):
    """A door that answers each line with itself; a line begins at its first byte, and what
    it keeps of a line still arriving counts towards the door's byte budget."""

    buffer = b""

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.begin()
        self.buffer += data
        while b"\n" in self.buffer:
            line, _, self.buffer = self.buffer.partition(b"\n")
            self.transport.write(line + b"\n")
        self.listener.release(self)
        if self.buffer:
            self.listener.hold(self, len(self.buffer))
        else:
            self.end()


@pytest.fixture
async def start(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Callable[..., object]]:
    monkeypatch.setattr(listener_module, "SWEEP_EVERY", 0.05)
    started: list[Listener] = []

    async def go(listen: str = "127.0.0.1:0", *, trusted: bool = False, **settings: object) -> Listener:
        config = dataclasses.replace(AdapterConfig(), **settings)  # type: ignore[arg-type]
        listener = Listener("echo", listen, Echo, config, trusted=trusted)
        await listener.start()
        started.append(listener)
        return listener

    yield go
    for listener in started:
        await listener.stop()
    for writer in _writers:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    _writers.clear()


_writers: list[asyncio.StreamWriter] = []


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    _writers.append(writer)
    return reader, writer


async def _echoes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, text: bytes = b"hi\n") -> bool:
    writer.write(text)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.readline(), 2) == text
    except (ConnectionError, TimeoutError):
        return False


async def _closed(reader: asyncio.StreamReader, within: float = 3.0) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), within) == b""
    except ConnectionError:
        return True
    except TimeoutError:
        return False


async def test_at_the_bound_a_new_connection_closes_the_one_quiet_the_longest(start: object) -> None:
    """Issue 13: refusing the newcomer instead let a flood of idle connections keep every
    new client out for the whole idle timeout."""
    assert callable(start)
    listener: Listener = await start(max_connections=3)
    clients = [await _connect(listener.port) for _ in range(3)]
    for reader, writer in clients:  # the first client is now the one quiet the longest
        assert await _echoes(reader, writer)
    reader, writer = await _connect(listener.port)
    assert await _echoes(reader, writer)
    assert await _closed(clients[0][0], within=2)
    assert listener.evicted == 1 and len(listener.connections) == 3
    assert all([await _echoes(r, w) for r, w in clients[1:]])


async def test_requests_still_arriving_hold_a_bounded_number_of_bytes(start: object) -> None:
    """Issue 13: 200 HTTP bodies each stopped short of 4 MB held 630 MB. Over the budget,
    the connections whose requests began first are closed (down to three quarters of it),
    not the newest."""
    assert callable(start)
    listener: Listener = await start(max_buffered_bytes=64 * 1024, max_body_bytes=64 * 1024)
    slow = [await _connect(listener.port) for _ in range(3)]
    for _, writer in slow:
        writer.write(b"x" * 30_000)  # a line that does not end
        await writer.drain()
        await asyncio.sleep(0.05)
    assert await _closed(slow[0][0], within=2) and await _closed(slow[1][0], within=2)
    assert listener.shed == 2 and listener.held == 30_000
    reader, writer = await _connect(listener.port)
    assert await _echoes(reader, writer)
    assert not await _closed(slow[2][0], within=0.2)


async def test_an_idle_connection_is_closed_after_the_idle_timeout(start: object) -> None:
    assert callable(start)
    listener: Listener = await start(idle_timeout=0.3, request_timeout=30.0)
    idle_reader, _idle_writer = await _connect(listener.port)
    busy_reader, busy_writer = await _connect(listener.port)
    for _ in range(6):  # active for 0.6 s: never idle that long
        assert await _echoes(busy_reader, busy_writer)
        await asyncio.sleep(0.1)
    assert await _closed(idle_reader, within=0.5)
    assert await _echoes(busy_reader, busy_writer)


async def test_a_request_that_takes_too_long_to_arrive_is_closed(start: object) -> None:
    assert callable(start)
    listener: Listener = await start(idle_timeout=60.0, request_timeout=0.3)
    reader, writer = await _connect(listener.port)
    writer.write(b"the start of a line that never ends")
    await writer.drain()
    assert await _closed(reader, within=2)
    # Another client is unaffected.
    reader, writer = await _connect(listener.port)
    assert await _echoes(reader, writer)


async def test_a_port_another_server_holds_is_refused_with_a_clear_error(start: object) -> None:
    assert callable(start)
    first: Listener = await start()
    with pytest.raises(ListenError, match=rf"cannot listen on 127.0.0.1:{first.port}: .*another process holds it"):
        await start(f"127.0.0.1:{first.port}")


async def test_an_mta_door_on_a_public_address_needs_an_allow_list(start: object) -> None:
    assert callable(start)
    with pytest.raises(ListenError, match="SENDINGIP_ADAPTER_ALLOW"):
        await start("0.0.0.0:0")
    # The HTTP door checks a key per request: it may listen anywhere.
    assert (await start("0.0.0.0:0", trusted=True)).port > 0
    allowed: Listener = await start(
        "0.0.0.0:0", allow=AdapterConfig.from_env({"SENDINGIP_ADAPTER_ALLOW": "10.9.0.0/16"}).allow
    )
    assert allowed._allowed("10.9.3.4") and allowed._allowed("127.0.0.1")
    assert not allowed._allowed("10.8.0.1") and not allowed._allowed("")
    reader, writer = await _connect(allowed.port)  # loopback is always allowed
    assert await _echoes(reader, writer)


class Slow(Connection):
    """A door whose answer awaits (as the HTTP door's outcomes report does): it answers each
    line after ``delay`` seconds, in a task the listener tracks."""

    delay = 0.3
    answered: list[bytes]

    def data_received(self, data: bytes) -> None:
        self.begin()
        self.listener.track(asyncio.get_running_loop().create_task(self._answer(data)))

    async def _answer(self, data: bytes) -> None:
        await asyncio.sleep(self.delay)
        if self.transport is not None:
            self.transport.write(b"late " + data)
        Slow.answered.append(data)


async def test_stop_lets_an_answer_that_awaits_finish_first() -> None:
    Slow.answered = []
    listener = Listener("slow", "127.0.0.1:0", Slow, AdapterConfig(), trusted=False)
    port = await listener.start()
    reader, writer = await _connect(port)
    writer.write(b"one\n")
    await writer.drain()
    await asyncio.sleep(0.05)  # the request has arrived; its answer is being worked out
    await listener.stop()
    assert Slow.answered == [b"one\n"]
    assert await asyncio.wait_for(reader.read(), 2) == b"late one\n"
    assert not listener.in_flight


async def test_stop_cancels_an_answer_that_takes_longer_than_the_drain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listener_module, "DRAIN_SECONDS", 0.2)
    monkeypatch.setattr(Slow, "delay", 30.0)
    Slow.answered = []
    listener = Listener("slow", "127.0.0.1:0", Slow, AdapterConfig(), trusted=False)
    port = await listener.start()
    _, writer = await _connect(port)
    writer.write(b"one\n")
    await writer.drain()
    await asyncio.sleep(0.05)
    started = asyncio.get_running_loop().time()
    await listener.stop()
    assert asyncio.get_running_loop().time() - started < 2
    assert Slow.answered == [] and not listener.in_flight
