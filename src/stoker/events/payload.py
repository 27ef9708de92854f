"""The collector payload (seed-apis.md §4), decoded and checked in one pass.

msgspec decodes straight into typed structs, so a wrong field comes back as a message naming its
path (`$.messages[3].generated_at`). An event's `content` is taken as the raw JSON string literal
(msgspec checks its escapes and that it holds no control character, without building a `str`), and
turned into the exact UTF-8 bytes the client sent, which are what is stored: never parsed-and-dumped
again. Spark's JSON is ASCII whose only escape, once embedded in the payload, is `\\"`: such a
literal is unescaped by one `bytes.replace`; any other literal goes through msgspec's string decoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import msgspec

from stoker.events.errors import InvalidPayload, MalformedBody
from stoker.events.summary import SummaryDelta, decode_event_into

SPARK_EVENT = "spark-event"
HEARTBEAT = "heartbeat"
MAX_NAME = 200

_ABSENT = msgspec.Raw()


class _Counters(msgspec.Struct, forbid_unknown_fields=False, gc=False):
    message_counter: int
    payload_counter: int


class _Message(msgspec.Struct, gc=False):
    message_type: Literal["spark-event", "heartbeat"]
    generated_at: int
    content: msgspec.Raw = _ABSENT  # the JSON text of the value: a string literal, null or absent


class _Payload(msgspec.Struct, gc=False):
    job_name: str
    run_id: str
    counters: _Counters
    messages: list[_Message]
    sent_at: int | float | None = None


_decoder = msgspec.json.Decoder(_Payload)
_string_decoder = msgspec.json.Decoder(str)
_TYPE_NAMES = {dict: "object", list: "array", bool: "bool", int: "int", float: "float"}


@dataclass
class Payload:
    """A checked payload: the events as (generated_at ms, raw bytes), in arrival order."""

    job_name: str
    run_id: str
    payload_counter: int
    message_counter: int
    times: list[int] = field(default_factory=list)
    events: list[bytes] = field(default_factory=list)
    heartbeats: int = 0
    summary: SummaryDelta = field(default_factory=SummaryDelta)


def parse_payload(data: bytes) -> Payload:
    """Decode and check a payload's JSON bytes; raise MalformedBody (400) or InvalidPayload (422)."""
    try:
        raw = _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise InvalidPayload(f"invalid payload: {exc}") from None
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"malformed JSON body: {exc}") from None
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"malformed JSON body: invalid UTF-8: {exc}") from None
    for name in ("job_name", "run_id"):
        value = getattr(raw, name)
        if not value or len(value) > MAX_NAME or "/" in value:
            raise InvalidPayload(f"invalid payload: `{name}` must be 1 to {MAX_NAME} characters "
                                 f"without '/', got {value!r}")
    payload = Payload(raw.job_name, raw.run_id, raw.counters.payload_counter,
                      raw.counters.message_counter)
    times, events, summary = payload.times, payload.events, payload.summary
    for index, message in enumerate(raw.messages):
        literal = bytes(message.content)
        is_string = literal[:1] == b'"'
        if not is_string and literal not in (b"", b"null"):
            raise InvalidPayload(f"invalid payload: Expected `str | null`, got "
                                 f"`{_type_name(literal)}` - at `$.messages[{index}].content`")
        if message.message_type == HEARTBEAT:
            if is_string:
                _event_bytes(literal)  # still has to be a valid string
            payload.heartbeats += 1
            continue
        if not is_string:
            raise InvalidPayload(f"invalid payload: `$.messages[{index}].content` is required "
                                 "for a spark-event")
        event = _event_bytes(literal)
        problem = decode_event_into(event, summary)
        if problem is not None:
            raise InvalidPayload(f"invalid payload: `$.messages[{index}].content` {problem}")
        times.append(message.generated_at)
        events.append(event)
    return payload


def _event_bytes(literal: bytes) -> bytes:
    """The UTF-8 bytes of a JSON string literal (quotes included) that msgspec has checked."""
    text = literal[1:-1]
    if text.isascii():  # then the bytes need no UTF-8 check
        escapes = text.count(b"\\")
        if not escapes:
            return text
        # Every backslash starts a `\"`: no other escape (`\\`, `\n`, `\u…`) can be present.
        if escapes == text.count(b'\\"'):
            return text.replace(b'\\"', b'"')
    try:
        event = _string_decoder.decode(literal).encode()
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"malformed JSON body: invalid UTF-8: {exc}") from None
    # A raw line break can only be JSON whitespace (inside strings JSON escapes it); it would
    # split the event across NDJSON lines, so it becomes a space: the same JSON value.
    if b"\n" in event or b"\r" in event:
        event = event.replace(b"\r", b" ").replace(b"\n", b" ")
    return event


def _type_name(literal: bytes) -> str:
    return _TYPE_NAMES.get(type(msgspec.json.decode(literal)), "value")
