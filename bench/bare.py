"""The HTTP door's ceiling: a bare uvloop + httptools responder, the least a Python HTTP door can do.

For each ``POST`` it parses the request with httptools (llhttp, the parser the HTTP door
uses), hashes the body with BLAKE2b, looks the hash up in a dict and answers a fixed JSON
body of the door's size: no key check, no JSON, no routing table, no counters. What the
HTTP door adds on top of this is what its features cost; the benchmark measures both with
the same wrk command on the same CPU, as Health/Check is measured for gRPC.

    python -m bench.bare [--listen 127.0.0.1:0]     # logs "serving listen=HOST:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
from typing import cast

import httptools
import uvloop

ANSWER = (
    b'{"ip":"192.0.2.10","pool_id":"pool-general-us","pool_type":"POOL_TYPE_GENERAL",'
    b'"management_type":"MANAGEMENT_TYPE_TRANSITION","mailbox_provider":"google","routing_version":"1",'
    b'"overflow":false}'
)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(ANSWER)).encode()
    + b"\r\n\r\n"
    + ANSWER
)
#: The "routing table": a dict looked up once per request, as the engine's account lookup is.
TABLE = {hashlib.blake2b(str(i).encode(), digest_size=8).digest(): i for i in range(10_000)}


class Responder(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.body: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike: cast, not isinstance.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        digest = hashlib.blake2b(b"".join(self.body), digest_size=8).digest()
        TABLE.get(digest)
        self.body.clear()
        assert self.transport is not None
        self.transport.write(RESPONSE)


async def serve(listen: str) -> None:
    host, _, port = listen.rpartition(":")
    server = await asyncio.get_running_loop().create_server(Responder, host, int(port), backlog=1024)
    logging.info("serving listen=%s:%d", host, server.sockets[0].getsockname()[1])
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:0")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    uvloop.run(serve(args.listen))


if __name__ == "__main__":
    main()
