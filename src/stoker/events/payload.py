"""The collector payload (seed-apis.md §4), decoded and checked in one pass.

msgspec decodes straight into typed structs, so a wrong field comes back as a message naming its
path (`$.messages[3].generated_at`), and an event's `content` string is turned into the exact UTF-8
bytes the client sent, which are what is stored: never parsed-and-dumped again.
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


class _Counters(msgspec.Struct, forbid_unknown_fields=False):
    message_counter: int
    payload_counter: int


class _Message(msgspec.Struct):
    message_type: Literal["spark-event", "heartbeat"]
    generated_at: int
    content: str | None = None


class _Payload(msgspec.Struct):
    job_name: str
    run_id: str
    counters: _Counters
    messages: list[_Message]
    sent_at: int | float | None = None


_decoder = msgspec.json.Decoder(_Payload)


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
    for name in ("job_name", "run_id"):
        value = getattr(raw, name)
        if not value or len(value) > MAX_NAME or "/" in value:
            raise InvalidPayload(f"invalid payload: `{name}` must be 1 to {MAX_NAME} characters "
                                 f"without '/', got {value!r}")
    payload = Payload(raw.job_name, raw.run_id, raw.counters.payload_counter,
                      raw.counters.message_counter)
    times, events, summary = payload.times, payload.events, payload.summary
    for index, message in enumerate(raw.messages):
        if message.message_type == HEARTBEAT:
            payload.heartbeats += 1
            continue
        content = message.content
        if content is None:
            raise InvalidPayload(f"invalid payload: `$.messages[{index}].content` is required "
                                 "for a spark-event")
        event = content.encode()
        # A raw line break can only be JSON whitespace (inside strings JSON escapes it); it would
        # split the event across NDJSON lines, so it becomes a space: the same JSON value.
        if b"\n" in event or b"\r" in event:
            event = event.replace(b"\r", b" ").replace(b"\n", b" ")
        problem = decode_event_into(event, summary)
        if problem is not None:
            raise InvalidPayload(f"invalid payload: `$.messages[{index}].content` {problem}")
        times.append(message.generated_at)
        events.append(event)
    return payload
