"""``batch_wire``: the batch answer written by hand is byte for byte what protobuf writes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sendingip.v1.router_pb2 import SelectSendingIPBatchResponse
from server.router.batch_wire import BatchWriter, serialize, varint
from server.router.engine import Answer, response

_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_TEXT = st.text(st.characters(codec="utf-8"), max_size=150)  # past 127 bytes: a two-byte length
_ANSWERS = st.lists(
    st.builds(
        Answer,
        ip=_TEXT,
        pool_id=_TEXT,
        pool_type=st.integers(0, 2),
        management_type=st.integers(0, 3),
        mailbox_provider=_TEXT,
        routing_version=_INT64,
        overflow=st.booleans(),
    ),
    max_size=40,
)


def _upb(answers: list[Answer]) -> bytes:
    return SelectSendingIPBatchResponse(responses=[response(a) for a in answers]).SerializeToString()


@settings(max_examples=300, deadline=None)
@given(batches=st.lists(_ANSWERS, min_size=1, max_size=4), kept=st.integers(1, 8))
def test_written_batches_are_the_bytes_protobuf_writes(batches: list[list[Answer]], kept: int) -> None:
    """Whatever the texts, numbers (negative int64 included) and defaults, and however often
    one writer starts its kept parts over between and within batches."""
    writer = BatchWriter(kept=kept)
    for answers in batches:
        assert writer.write(answers) == _upb(answers)


def test_varint_is_protobufs_for_the_edges() -> None:
    assert [varint(n) for n in (0, 1, 127, 128, 300)] == [b"\x00", b"\x01", b"\x7f", b"\x80\x01", b"\xac\x02"]
    assert varint(-1) == b"\xff" * 9 + b"\x01"  # int64 -1: ten bytes
    assert varint(2**63 - 1) == b"\xff" * 8 + b"\x7f"


def test_serialize_passes_written_bytes_through_and_serializes_a_message() -> None:
    answers = [Answer("192.0.2.1", "general:us-east", 1, 1, "google", 7, False)]
    written = BatchWriter().write(answers)
    assert serialize(written) is written
    assert serialize(SelectSendingIPBatchResponse(responses=[response(answers[0])])) == written
