"""The JSON of the HTTP door: proto3 JSON with proto field names, fast where it matters.

Two paths, one format. protobuf's ``json_format`` walks descriptors in Python and costs tens
of microseconds a message, more than the pick itself, so the hot path (``/v1/select`` and
``/v1/select/batch``) decodes with msgspec Structs that mirror SelectSendingIPRequest
(unknown fields refused, as proto3 JSON parsing refuses them) and encodes the engine's
``Answer`` with enum names looked up in tables built once. The result is exactly what
``MessageToDict(response, preserving_proto_field_name=True,
always_print_fields_with_no_presence=True)`` gives for the gRPC response: int64 as a string,
enums by name, fields with default values included (tests/integration/test_http_door.py
holds both paths to that).

Everything else goes through ``json_format``, so those messages' shapes are not copied here:
the outcomes and account bodies, and a select body msgspec refused, which gets a second
chance there because proto3 JSON also allows lowerCamelCase names and ``null`` for a default.
When both refuse, the error names the field as msgspec saw it (``requests[1].account_id:
expected `str`, got `int```), in the ``field: rule`` form of ``server.validate``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

import msgspec
from google.protobuf import json_format
from google.protobuf.message import Message

from sendingip.v1 import router_pb2, types_pb2
from server.router.engine import Answer
from server.validate import SelectRequest

M = TypeVar("M", bound=Message)

#: Bodies up to this size get json_format's second chance on the hot path. json_format
#: takes about 150 ms a MiB, on the event loop: a larger body refused by msgspec is
#: answered with msgspec's error rather than stall every other pick.
SLOW_PATH_MAX = 64 * 1024


class BadBody(ValueError):
    """A body that is not the JSON of the message; ``str()`` names the field and the rule."""


class SelectBody(msgspec.Struct, forbid_unknown_fields=True):
    """SelectSendingIPRequest's fields (the proto's defaults when absent)."""

    account_id: str = ""
    message_id: str = ""
    recipient_domain: str = ""
    mailbox_provider: str = ""
    region: str = ""
    retry: bool = False


class SelectBatchBody(msgspec.Struct, forbid_unknown_fields=True):
    requests: list[SelectBody] = []


class SelectJSON(msgspec.Struct):
    """SelectSendingIPResponse as MessageToDict writes it (field order of the proto)."""

    ip: str
    pool_id: str
    pool_type: str | int
    management_type: str | int
    mailbox_provider: str
    routing_version: str
    overflow: bool


class SelectBatchJSON(msgspec.Struct):
    responses: list[SelectJSON]


_POOL_TYPES: dict[int, str] = {v.number: v.name for v in types_pb2.PoolType.DESCRIPTOR.values}
_MANAGEMENT_TYPES: dict[int, str] = {v.number: v.name for v in types_pb2.ManagementType.DESCRIPTOR.values}
_select = msgspec.json.Decoder(SelectBody)
_batch = msgspec.json.Decoder(SelectBatchBody)
_encode = msgspec.json.Encoder().encode
#: msgspec's "... - at `$.requests[1].account_id`".
_AT = re.compile(r"^(?P<rule>.*?)(?: - at `\$\.?(?P<path>[^`]*)`)?$", re.DOTALL)
_NOT_JSON = "Failed to load JSON: "
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]*)`$")


def decode_select(body: bytes) -> SelectRequest:
    try:
        return _select.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return _slow(body, router_pb2.SelectSendingIPRequest(), exc)


def decode_batch(body: bytes) -> Sequence[SelectRequest]:
    try:
        return _batch.decode(body).requests
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return _slow(body, router_pb2.SelectSendingIPBatchRequest(), exc).requests


def encode_answer(a: Answer) -> bytes:
    return _encode(_answer(a))


def encode_answers(answers: Sequence[Answer]) -> bytes:
    return _encode(SelectBatchJSON([_answer(a) for a in answers]))


def _answer(a: Answer) -> SelectJSON:
    return SelectJSON(
        a.ip,
        a.pool_id,
        _POOL_TYPES.get(a.pool_type, a.pool_type),
        _MANAGEMENT_TYPES.get(a.management_type, a.management_type),
        a.mailbox_provider,
        str(a.routing_version),
        a.overflow,
    )


def parse_message(body: bytes, message: M) -> M:
    """``body`` parsed into ``message`` by proto3 JSON rules (unknown fields refused)."""
    text = _text(body)
    try:
        return json_format.Parse(text, message, ignore_unknown_fields=False)
    except (json_format.ParseError, RecursionError, ValueError) as exc:
        raise BadBody(_parse_error(exc)) from None


def encode_message(message: Message) -> bytes:
    """A response message as MessageToDict gives it, as JSON."""
    return _encode(
        json_format.MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    )


def encode_error(code: str, message: str) -> bytes:
    return _encode({"code": code, "message": message})


def encode(value: object) -> bytes:
    return _encode(value)


def _slow(body: bytes, message: M, first: Exception) -> M:
    """The json_format path for a body msgspec refused; ``BadBody`` when it refuses too."""
    second: BadBody | None = None
    if len(body) <= SLOW_PATH_MAX:
        try:
            return parse_message(body, message)
        except BadBody as exc:
            second = exc
    if isinstance(first, msgspec.ValidationError):
        raise BadBody(_validation_error(str(first))) from None
    if second is not None:
        raise second
    _text(body)  # names the first byte that is not UTF-8, if one is not
    raise BadBody(f"body: not valid JSON: {first}")


def _text(body: bytes) -> str:
    if not body or body.isspace():
        raise BadBody("body: empty; expected a JSON object")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody(f"body: not valid UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start})") from None


def _validation_error(text: str) -> str:
    """msgspec's ``Expected `str`, got `int` - at `$.requests[1].account_id``` as
    ``requests[1].account_id: expected `str`, got `int```."""
    match = _AT.match(text)
    assert match is not None  # the pattern matches any text
    rule, path = match["rule"], match["path"] or ""
    unknown = _UNKNOWN.match(rule)
    if unknown is not None:
        field = f"{path}.{unknown['name']}" if path else unknown["name"]
        return f"{field}: unknown field"
    return f"{path or 'body'}: {rule[:1].lower()}{rule[1:]}"


def _parse_error(exc: Exception) -> str:
    """json_format's message, first line only (the rest lists the fields in camelCase)."""
    if isinstance(exc, RecursionError):
        return "body: nested too deeply"
    text = str(exc).split("\n", 1)[0].rstrip(".")
    if text.startswith(_NOT_JSON):
        return f"body: not valid JSON: {text[len(_NOT_JSON) :]}"
    return text
