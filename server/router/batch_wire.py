"""The SelectSendingIPBatch answer written straight in protobuf's wire format.

One upb message per answer (``responses.add(ip=…, pool_id=…, …)``) was 13–14% of the
router's time under batches of 1,000 (py-spy), more than any other step of a pick. The
answers of a batch repeat their parts: a handful of (IP, pool, pool type, management type,
provider) combinations and a routing version per account. ``BatchWriter`` keeps the bytes
of each part once made and writes an answer as three joined pieces, which cost half as much
a pick as the message (same-process A/B, docs/benchmarks.md "The batch path per pick").

The bytes are exactly what protobuf writes for the same ``SelectSendingIPBatchResponse``:
fields in number order, proto3 defaults (empty strings, zero, false) left out, lengths and
integers as varints, a negative int64 in ten bytes. A property test compares them with
upb's ``SerializeToString`` byte for byte. The servicer returns these bytes and the Router
service is registered with ``serialize`` as the batch's response serializer
(``servicer.add_to_server``), which passes bytes through and serializes a message as before.
"""

from __future__ import annotations

from collections.abc import Iterable

from sendingip.v1.router_pb2 import SelectSendingIPBatchResponse
from server.router.engine import Answer

#: Distinct parts kept (of each kind) before starting over: a bound on memory whatever
#: the number of accounts; a part made again costs about what a message field does.
KEPT_PARTS = 65_536
_INT64 = (1 << 64) - 1

# Wire tags: (field number << 3) | wire type; 2 = length-delimited, 0 = varint.
_RESPONSES = b"\x0a"  # SelectSendingIPBatchResponse.responses = 1
_IP, _POOL_ID, _POOL_TYPE, _MANAGEMENT_TYPE, _PROVIDER = b"\x0a", b"\x12", b"\x18", b"\x20", b"\x2a"
_ROUTING_VERSION = b"\x30"
_OVERFLOW = b"\x38\x01"


def varint(n: int) -> bytes:
    """``n`` as a protobuf varint; a negative number as its 64-bit two's complement."""
    n &= _INT64
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


#: The length prefix of an answer: almost always one byte, looked up.
_SHORT_LENGTHS = [varint(n) for n in range(128)]


def _text(tag: bytes, value: str) -> bytes:
    if not value:
        return b""
    data = value.encode("utf-8", "surrogatepass")
    return tag + varint(len(data)) + data


def _number(tag: bytes, value: int) -> bytes:
    return tag + varint(value) if value else b""


def _fixed_part(ip: str, pool_id: str, pool_type: int, management_type: int, provider: str) -> bytes:
    """Fields 1-5 of a SelectSendingIPResponse."""
    return (
        _text(_IP, ip)
        + _text(_POOL_ID, pool_id)
        + _number(_POOL_TYPE, pool_type)
        + _number(_MANAGEMENT_TYPE, management_type)
        + _text(_PROVIDER, provider)
    )


class BatchWriter:
    """Writes ``Answer``s as a serialized SelectSendingIPBatchResponse, keeping the parts
    it made for the next batch (one writer per router process; not shared across threads)."""

    def __init__(self, kept: int = KEPT_PARTS) -> None:
        self.kept = kept
        self._fixed: dict[tuple[str, str, int, int, str], bytes] = {}
        self._versions: dict[int, bytes] = {}

    def write(self, answers: Iterable[Answer]) -> bytes:
        fixed, versions, short = self._fixed, self._versions, _SHORT_LENGTHS
        parts: list[bytes] = []
        append = parts.append
        for ip, pool_id, pool_type, management_type, provider, version, overflow in answers:
            key = (ip, pool_id, pool_type, management_type, provider)
            head = fixed.get(key)
            if head is None:
                if len(fixed) >= self.kept:
                    fixed.clear()
                head = fixed[key] = _fixed_part(*key)
            tail = versions.get(version)
            if tail is None:
                if len(versions) >= self.kept:
                    versions.clear()
                tail = versions[version] = _number(_ROUTING_VERSION, version)
            body = head + tail + _OVERFLOW if overflow else head + tail
            n = len(body)
            append(_RESPONSES)
            append(short[n] if n < 128 else varint(n))
            append(body)
        return b"".join(parts)


def serialize(response: bytes | SelectSendingIPBatchResponse) -> bytes:
    """The batch method's response serializer: bytes written by ``BatchWriter`` as they are,
    a message serialized."""
    if isinstance(response, bytes):
        return response
    return response.SerializeToString()
