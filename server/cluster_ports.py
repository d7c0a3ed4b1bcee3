"""The ports of a cluster (``serve --processes N``): shared by its members, by nobody else.

The members bind with SO_REUSEPORT so that the kernel spreads new connections among them.
On its own that would let any later process that also sets SO_REUSEPORT join the port and
take a share of the connections. So the parent, before any member starts, takes each port
itself with a *guard* socket:

1. It binds the guard **without** SO_REUSEPORT (nor SO_REUSEADDR). The bind succeeds only
   if no socket holds the address: this is the proof that no other server (another
   ``serve``, another cluster) is on the port, in one atomic step (no probe-then-bind race
   between two clusters starting at once). Port 0 gets a free port here, which the members
   are then given.
2. It then sets SO_REUSEPORT on the guard. It never listens: the kernel gives connections
   only to listening sockets, so the guard takes none, but it stays in the port's bind
   bucket for the cluster's life, including while a member restarts.
3. Each member binds with SO_REUSEADDR and SO_REUSEPORT and listens.

Linux lets a socket bind an address another socket holds only when both set SO_REUSEPORT
and both were made by the same effective UID. Hence the guarantee, exactly:

* a server that does not set SO_REUSEPORT (a plain ``sendingip serve``, its doors, most
  programs) fails to bind with EADDRINUSE, as before;
* another cluster fails too: its parent's guard (step 1) does not set SO_REUSEPORT;
* a process of another user fails even with SO_REUSEPORT;
* a process of the **same user** that sets SO_REUSEPORT itself can still join: the kernel
  has no per-group membership check. sendingip never does that outside a cluster's members;
  run the cluster under a user of its own so that nothing else can.

Checked on Linux 6.x (tests/e2e/test_serve_processes.py: a stranger on the port fails).
"""

from __future__ import annotations

import errno
import socket

from server.adapters.config import split_listen
from server.adapters.listener import ListenError


class PortHold:
    """The guard sockets of one listen address (a name may resolve to several addresses:
    grpc binds each, so each is guarded). ``port`` is the port they hold."""

    def __init__(self, what: str, listen: str) -> None:
        self.what = what
        self.listen = listen
        self.sockets: list[socket.socket] = []
        host, port = split_listen(listen)
        try:
            for family, address in _addresses(host, port):
                guard = _exclusive(family, address if not self.sockets else (address[0], self.port, *address[2:]))
                self.sockets.append(guard)
        except OSError as exc:
            self.close()
            why = (
                "address already in use: another process holds it (another sendingip serve?)"
                if exc.errno == errno.EADDRINUSE
                else exc.strerror or str(exc)
            )
            raise ListenError(f"the {what} cannot listen on {listen}: {why}") from None
        if not self.sockets:
            raise ListenError(f"the {what} cannot listen on {listen}: {host!r} resolves to no address")

    @property
    def port(self) -> int:
        return int(self.sockets[0].getsockname()[1])

    def close(self) -> None:
        """Release the port (after every member has stopped). Idempotent."""
        for guard in self.sockets:
            guard.close()
        self.sockets = []


def _addresses(host: str, port: int) -> list[tuple[socket.AddressFamily, tuple[object, ...]]]:
    """Each address ``host`` names, once, as a server binds it (IPv6 literals included)."""
    found: list[tuple[socket.AddressFamily, tuple[object, ...]]] = []
    for family, _, _, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE):
        if family in (socket.AF_INET, socket.AF_INET6) and (family, address) not in found:
            found.append((family, tuple(address)))
    return found


def _exclusive(family: socket.AddressFamily, address: tuple[object, ...]) -> socket.socket:
    """Steps 1 and 2 above for one address."""
    guard = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family == socket.AF_INET6:
            # As grpc binds [::] (both families): the guard holds the IPv4 side too.
            guard.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        guard.bind(address)
        guard.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except BaseException:
        guard.close()
        raise
    return guard
