"""A connection flood, as anyone who reaches a port could send one without a key (issue 13).

Four kinds of connection, opened at a steady rate: ``idle`` says nothing; ``preface`` sends
the HTTP/2 preface and SETTINGS, then nothing; ``streams`` also opens HTTP/2 streams whose
request never comes (HEADERS without END_STREAM), ignoring the server's stream limit as an
attacker would; ``big_grpc`` opens streams whose 4 MB request stops where the server's flow
control window does; ``half_http`` sends an HTTP/1.1 request whose body never comes, and
``big_http`` one that says 4 MB follow and stops after ``body`` bytes. Each
connection stays until the server closes it or ``hold`` seconds pass, then the flood closes
what is left and ends: it is bounded in count and time.

It runs in a process of its own (``python -m tests.reliability.flood HOST PORT KIND=N ...``),
so that its work does not slow the test's own probes, and prints its tally per kind as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import time
from dataclasses import asdict, dataclass, field

import h2.config
import h2.connection
import h2.exceptions
from hpack import Encoder
from hyperframe.frame import HeadersFrame, SettingsFrame

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: The most a ``big_grpc`` stream sends of its 4 MB message (grpc's default flow control
#: let a stream take the whole 4 MB; the router's takes 64 KB).
BIG_GRPC_BYTES = 256 * 1024
KINDS = ("idle", "preface", "streams", "big_grpc", "half_http", "big_http")
#: An HTTP/1.1 request that says a body follows and sends a third of it.
HALF_HTTP = b'POST /v1/select HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 90\r\n\r\n{"acc'
BIG_HTTP = b"POST /v1/select/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n"


@dataclass
class Tally:
    """What happened to the connections of one kind."""

    opened: int = 0
    refused: int = 0  # the connect itself failed
    closed_by_server: int = 0  # the server closed it (at once, or after one of its timeouts)
    streams_sent: int = 0
    #: Seconds from a connection's opening to the server closing it, the longest seen.
    longest_held: float = 0.0


@dataclass
class Report:
    kinds: dict[str, Tally] = field(default_factory=dict)
    seconds: float = 0.0


def _h2_client() -> h2.connection.H2Connection:
    return h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, validate_inbound_headers=False))


def _headers(encoder: Encoder, stream_id: int, path: str, authority: str) -> bytes:
    frame = HeadersFrame(stream_id)
    frame.data = encoder.encode(
        [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", authority),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ]
    )
    frame.flags.add("END_HEADERS")
    return bytes(frame.serialize())


class Flood:
    def __init__(
        self, host: str, port: int, *, streams_per_connection: int, hold: float, path: str, body: int = 0
    ) -> None:
        self.host, self.port = host, port
        self.streams_per_connection = streams_per_connection
        self.body = body
        self.hold = hold
        self.path = path
        self.report = Report()

    async def connection(self, kind: str, stream_pace: float) -> None:
        tally = self.report.kinds.setdefault(kind, Tally())
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            tally.refused += 1
            return
        tally.opened += 1
        opened = time.monotonic()
        h2conn = _h2_client() if kind == "big_grpc" else None
        closed = asyncio.create_task(self._until_closed(reader, writer, h2conn))
        try:
            await self._send(kind, writer, closed, stream_pace, tally, h2conn)
            await asyncio.wait_for(asyncio.shield(closed), max(0.0, opened + self.hold - time.monotonic()))
            tally.closed_by_server += 1
            tally.longest_held = round(max(tally.longest_held, time.monotonic() - opened), 2)
        except (TimeoutError, OSError):
            pass
        finally:
            closed.cancel()
            writer.transport.abort()

    async def _send(
        self,
        kind: str,
        writer: asyncio.StreamWriter,
        closed: asyncio.Task[None],
        pace: float,
        tally: Tally,
        h2conn: h2.connection.H2Connection | None,
    ) -> None:
        if kind == "half_http":
            writer.write(HALF_HTTP)
            return
        if kind == "big_http":
            writer.write(BIG_HTTP)
            for offset in range(0, self.body, 65536):
                writer.write(b" " * min(65536, self.body - offset))
                await writer.drain()
            return
        if kind == "idle":
            return
        if h2conn is not None:
            await self._big_grpc(h2conn, writer, closed, pace, tally)
            return
        writer.write(PREFACE + bytes(SettingsFrame(0).serialize()))
        if kind != "streams":
            return
        encoder = Encoder()
        authority = f"{self.host}:{self.port}"
        for i in range(self.streams_per_connection):
            if closed.done():
                return
            writer.write(_headers(encoder, 1 + 2 * i, self.path, authority))
            tally.streams_sent += 1
            await writer.drain()
            await asyncio.sleep(pace)

    async def _big_grpc(
        self,
        conn: h2.connection.H2Connection,
        writer: asyncio.StreamWriter,
        closed: asyncio.Task[None],
        pace: float,
        tally: Tally,
    ) -> None:
        """Streams each declaring a 4 MB message and sending what flow control allows, up to
        ``BIG_GRPC_BYTES`` (the reader task feeds the server's SETTINGS and WINDOW_UPDATEs to
        ``conn``)."""
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        await asyncio.sleep(0.05)  # the server's SETTINGS (its window, its frame size)
        headers = [(":method", "POST"), (":scheme", "http"), (":path", self.path), (":authority", "x")]
        headers += [("content-type", "application/grpc"), ("te", "trailers")]
        message = b"\x00" + struct.pack(">I", 4_000_000) + b"\x01" * (BIG_GRPC_BYTES - 5)
        for _ in range(self.streams_per_connection):
            if closed.done():
                return
            stream = conn.get_next_available_stream_id()
            conn.send_headers(stream, headers)
            sent = 0
            while sent < len(message):
                room = min(conn.local_flow_control_window(stream), conn.max_outbound_frame_size, len(message) - sent)
                if room <= 0:
                    break
                conn.send_data(stream, message[sent : sent + room])
                sent += room
            writer.write(conn.data_to_send())
            tally.streams_sent += 1
            await writer.drain()
            await asyncio.sleep(pace)

    async def _until_closed(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: h2.connection.H2Connection | None
    ) -> None:
        try:
            while data := await reader.read(65536):
                if conn is not None:
                    conn.receive_data(data)
                    writer.write(conn.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            pass  # reset or refused: closed all the same

    async def run(self, counts: dict[str, int], rate: float, stream_rate: float) -> Report:
        """``counts`` connections of each kind, opened ``rate`` a second in all; each
        ``streams`` connection sends its streams ``stream_rate`` a second."""
        started = time.monotonic()
        # The kinds in turn, so that every kind is in flight at once.
        left = {kind: counts.get(kind, 0) for kind in KINDS}
        order = []
        while any(left.values()):
            for kind in KINDS:
                if left[kind]:
                    order.append(kind)
                    left[kind] -= 1
        tasks = []
        for n, kind in enumerate(order):
            tasks.append(asyncio.create_task(self.connection(kind, 1.0 / stream_rate)))
            await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.monotonic()))
        await asyncio.gather(*tasks)
        self.report.seconds = round(time.monotonic() - started, 2)
        return self.report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("counts", nargs="+", metavar="KIND=N", help=f"connections of each kind: {', '.join(KINDS)}")
    parser.add_argument("--rate", type=float, default=500.0, help="connections opened a second")
    parser.add_argument("--streams", type=int, default=0, help="streams per 'streams' connection")
    parser.add_argument("--stream-rate", type=float, default=50.0, help="streams a second per connection")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds a connection stays at most")
    parser.add_argument("--path", default="/sendingip.v1.Router/SelectSendingIP")
    parser.add_argument("--body", type=int, default=0, help="bytes a 'big_http' connection sends of its 4 MB body")
    args = parser.parse_args()
    counts = {kind: int(n) for kind, _, n in (item.partition("=") for item in args.counts)}
    flood = Flood(
        args.host, args.port, streams_per_connection=args.streams, hold=args.hold, path=args.path, body=args.body
    )
    report = asyncio.run(flood.run(counts, args.rate, args.stream_rate))
    print(json.dumps(asdict(report)))


if __name__ == "__main__":
    main()
