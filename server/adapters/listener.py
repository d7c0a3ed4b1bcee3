"""One TCP listener of a door, with the bounds every door shares.

A door is an ``asyncio.Protocol`` subclass of ``Connection``; ``Listener`` keeps the open
connections in the order they were last active, refuses clients outside the allow-list, and
sweeps once a second for connections that sat idle too long or whose request has been
arriving for too long (a slow sender). The sweep costs the hot path one ``monotonic()`` per
request instead of a timer per request.

At ``max_connections``, a new connection closes the one that has been quiet the longest
rather than being refused itself: a flood of idle or half-sent connections then pushes out
its own connections, and an MTA that connects and sends its request at once is served
(issue 13: refusing the newcomer let 1,024 idle connections keep every pick out for the
whole idle timeout). Likewise for memory: a door tells the listener (``hold``) the bytes it
keeps of a request still arriving, and over ``max_buffered_bytes`` in all the connections
whose requests began first are closed (200 bodies each stopped short of 4 MB held 630 MB).

The socket is bound without SO_REUSEPORT: a second server on a port this one holds fails
to start (SPEC §4: no silent port sharing). Only the members of one cluster set it
(``config.share_port``), behind the parent's guard (``server/cluster_ports.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import cast

from server.adapters.config import AdapterConfig, Network, is_loopback, split_listen

log = logging.getLogger(__name__)

SWEEP_EVERY = 1.0
#: How long ``stop`` waits for answers that await (an outcomes report being written, say):
#: well inside the 10 s a container gets to stop, with the history flush after it.
DRAIN_SECONDS = 3.0


class ListenError(OSError):
    """A door cannot listen where it was told to; the message says why and what to do."""


class Connection(asyncio.Protocol):
    """Base of every door's connection. Subclasses call ``begin()`` when the first byte of a
    request arrives and ``end()`` when it is answered, and ``super()`` in the callbacks."""

    listener: Listener
    transport: asyncio.Transport | None = None
    peer: str = ""
    #: When the current request began arriving (0 while none is), and the last activity.
    began = 0.0
    last = 0.0
    #: Bytes the door keeps of the request still arriving (``Listener.hold``).
    held = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport is no asyncio.Transport subclass (isinstance is False), though it
        # has the whole interface: a cast, not an assert, or every connection fails under uvloop.
        self.transport = cast(asyncio.Transport, transport)
        peername = transport.get_extra_info("peername")
        self.peer = str(peername[0]) if peername else ""
        self.last = time.monotonic()
        self.listener.admit(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.listener.forget(self)
        self.transport = None

    def begin(self) -> None:
        if not self.began:
            self.began = time.monotonic()
            self.listener.active(self)

    def end(self) -> None:
        self.began = 0.0
        self.last = time.monotonic()
        self.listener.active(self)

    def timed_out(self, reason: str) -> None:
        """Called by the sweep; doors may override to answer before closing."""
        log.info("%s door: closing a connection peer=%s: %s", self.listener.name, self.peer, reason)
        if self.transport is not None:
            self.transport.close()


class Listener:
    def __init__(
        self, name: str, listen: str, factory: Callable[[], Connection], config: AdapterConfig, *, trusted: bool
    ) -> None:
        """``trusted``: the door checks its callers' keys itself (HTTP), so any address may
        connect; otherwise only loopback clients and ``config.allow``."""
        self.name = name
        self.listen = listen
        self.host, self.port = split_listen(listen)
        self.factory = factory
        self.config = config
        self.allow: tuple[Network, ...] | None = None if trusted else config.allow
        #: The open connections, the one quiet the longest first.
        self.connections: OrderedDict[Connection, None] = OrderedDict()
        self.refused = 0
        #: Connections closed to make room for a new one.
        self.evicted = 0
        #: Bytes of requests still arriving, all connections together, and the connections
        #: closed to bring it under ``max_buffered_bytes``.
        self.held = 0
        self.shed = 0
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        #: Answers being worked out off the event loop's fast path (``track``).
        self.in_flight: set[asyncio.Task[None]] = set()
        if self.allow == () and not is_loopback(self.host):
            raise ListenError(
                f"the {name} door speaks no TLS and checks no key per client: to listen on {listen}, "
                "say which clients may connect with SENDINGIP_ADAPTER_ALLOW (e.g. 10.1.0.0/16), or bind 127.0.0.1"
            )

    def _connection(self) -> Connection:
        conn = self.factory()
        conn.listener = self
        return conn

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                self._connection,
                self.host,
                self.port,
                reuse_address=True,
                reuse_port=self.config.share_port,
                backlog=1024,
            )
        except OSError as exc:
            hint = "another process holds it (another sendingip serve?)" if exc.errno == errno.EADDRINUSE else ""
            raise ListenError(
                f"the {self.name} door cannot listen on {self.listen}: {exc.strerror} {hint}".strip()
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        self._sweeper = asyncio.create_task(self._sweep(), name=f"{self.name}-sweep")
        log.info("%s listen=%s:%d", self.name, self.host, self.port)
        return self.port

    def track(self, task: asyncio.Task[None]) -> None:
        """A connection answers a request in ``task`` (a handler that awaits): ``stop`` lets it
        finish, within ``DRAIN_SECONDS``, before closing the connections."""
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    async def stop(self) -> None:
        """Stops accepting and closes every connection. A request in flight is answered first:
        most answers are written synchronously; those that await (``track``) get
        ``DRAIN_SECONDS`` to finish and are cancelled after that."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._server is not None:
            self._server.close()
        await self._drain()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _drain(self) -> None:
        if not self.in_flight:
            return
        _, late = await asyncio.wait(set(self.in_flight), timeout=DRAIN_SECONDS)
        for task in late:
            task.cancel()
        if late:
            log.warning(
                "%s door: %d answers still in flight after %.0fs, cancelled", self.name, len(late), DRAIN_SECONDS
            )
            await asyncio.gather(*late, return_exceptions=True)

    def admit(self, conn: Connection) -> None:
        if self.allow is not None and not self._allowed(conn.peer):
            self._refuse(conn, "not in SENDINGIP_ADAPTER_ALLOW")
            return
        if len(self.connections) >= self.config.max_connections:
            self._make_room()
        self.connections[conn] = None

    def active(self, conn: Connection) -> None:
        """``conn`` began or finished a request: it goes to the back of the eviction order."""
        if conn in self.connections:
            self.connections.move_to_end(conn)

    def forget(self, conn: Connection) -> None:
        self.connections.pop(conn, None)
        self.release(conn)

    def hold(self, conn: Connection, size: int) -> None:
        """``conn`` keeps ``size`` more bytes of a request that has not arrived whole."""
        conn.held += size
        self.held += size
        if self.held > self.config.max_buffered_bytes:
            self._shed()

    def release(self, conn: Connection) -> None:
        """``conn``'s request has arrived whole (or the connection is gone)."""
        self.held -= conn.held
        conn.held = 0

    def _shed(self) -> None:
        # Down to three quarters, so that a flood does not make every read scan the connections.
        goal = self.config.max_buffered_bytes * 3 // 4
        for conn in list(self.connections):  # the one quiet the longest first
            if self.held <= goal:
                break
            if not conn.held:
                continue
            self.shed += 1
            if self.shed == 1 or self.shed % 1000 == 0:
                log.warning(
                    "%s door: requests still arriving hold more than %d bytes (SENDINGIP_ADAPTER_MAX_BUFFERED_BYTES); "
                    "closed the connection whose request began first peer=%s (closed so far: %d)",
                    self.name,
                    self.config.max_buffered_bytes,
                    conn.peer,
                    self.shed,
                )
            self.release(conn)
            self.connections.pop(conn, None)
            if conn.transport is not None:
                conn.transport.abort()

    def _make_room(self) -> None:
        quiet, _ = self.connections.popitem(last=False)
        self.evicted += 1
        # One line per eviction would let a flood fill the log: the first, then every 1000th.
        if self.evicted == 1 or self.evicted % 1000 == 0:
            log.warning(
                "%s door: %d connections open, the most allowed (SENDINGIP_ADAPTER_MAX_CONNECTIONS); closed the one "
                "quiet the longest peer=%s to make room (closed so far: %d)",
                self.name,
                self.config.max_connections,
                quiet.peer,
                self.evicted,
            )
        transport = quiet.transport
        if transport is None:
            return
        if quiet.began or transport.get_write_buffer_size():
            transport.abort()  # a half-sent request, or answers it does not read: no lingering
        else:
            transport.close()

    def _allowed(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        if address.is_loopback:
            return True
        return any(address in network for network in self.allow or ())

    def _refuse(self, conn: Connection, why: str) -> None:
        self.refused += 1
        # One line per refusal would let a flood fill the log: the first, then every 1000th.
        if self.refused == 1 or self.refused % 1000 == 0:
            log.warning(
                "%s door: refused a connection peer=%s: %s (refused so far: %d)",
                self.name,
                conn.peer,
                why,
                self.refused,
            )
        if conn.transport is not None:
            conn.transport.abort()

    async def _sweep(self) -> None:
        idle, slow = self.config.idle_timeout, self.config.request_timeout
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            now = time.monotonic()
            for conn in list(self.connections):
                if conn.began and now - conn.began > slow:
                    conn.timed_out(f"a request took more than {slow:g}s to arrive")
                elif not conn.began and now - conn.last > idle:
                    conn.timed_out(f"idle for more than {idle:g}s")
