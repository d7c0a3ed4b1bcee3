"""One TCP connection to a door, for clients that speak its protocol byte for byte
(``http_client.Client``, the line and policy clients of the MTA doors' tests)."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Self


class Connection:
    #: The reader's buffer limit (asyncio's default); a client reading long lines raises it.
    limit = 2**16

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Self:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=cls.limit)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        with suppress(OSError):  # ConnectionError is one
            await self.writer.wait_closed()
