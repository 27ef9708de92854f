"""The collector payload (seed-apis.md §4), decoded and checked in one pass.

msgspec decodes straight into typed structs, so a wrong field comes back as a message naming its
path (`$.messages[3].generated_at`), and an event's `content` string is exactly the text the client
sent. Each `content` is checked (and read for the summary) as the `str` msgspec made.

What is stored is the payload itself, as received (see store.py): ingest never re-serialises an
event. `event_lines` turns a stored payload back into its events' NDJSON, applying the one
normalisation ingest applies (`one_line`), so export gives exactly the lines that were checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import msgspec

from stoker.events.ingest_errors import InvalidPayload, MalformedBody
from stoker.events.summary import SummaryDelta, decode_event_into

SPARK_EVENT = "spark-event"
HEARTBEAT = "heartbeat"
MAX_NAME = 200


class _Counters(msgspec.Struct, forbid_unknown_fields=False, gc=False):
    message_counter: int
    payload_counter: int


class _Message(msgspec.Struct, gc=False):
    message_type: Literal["spark-event", "heartbeat"]
    generated_at: int
    content: str | None = None


class _Payload(msgspec.Struct, gc=False):
    job_name: str
    run_id: str
    counters: _Counters
    messages: list[_Message]
    sent_at: int | float | None = None


_decoder = msgspec.json.Decoder(_Payload)


@dataclass
class Payload:
    """A checked payload: its events' generated_at (ms) in arrival order, and its summary."""

    job_name: str
    run_id: str
    payload_counter: int
    message_counter: int
    times: list[int] = field(default_factory=list)
    heartbeats: int = 0
    summary: SummaryDelta = field(default_factory=SummaryDelta)


class _StoredMessage(msgspec.Struct, gc=False):
    message_type: str
    content: str | None = None


class _StoredPayload(msgspec.Struct, gc=False):
    messages: list[_StoredMessage]


_stored_decoder = msgspec.json.Decoder(_StoredPayload)


def one_line(text: str) -> str:
    """An event's text on one NDJSON line. A raw line break can only be JSON whitespace (inside
    strings JSON escapes it), so it becomes a space: the same JSON value."""
    if "\n" in text or "\r" in text:
        return text.replace("\r", " ").replace("\n", " ")
    return text


def event_lines(source: bytes) -> bytes:
    """The events of a payload that passed `parse_payload`, as NDJSON (each line ends in \\n)."""
    texts = [one_line(m.content) for m in _stored_decoder.decode(source).messages
             if m.message_type == SPARK_EVENT and m.content is not None]
    texts.append("")
    return "\n".join(texts).encode()


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
    times, summary = payload.times, payload.summary
    for index, message in enumerate(raw.messages):
        if message.message_type == HEARTBEAT:
            payload.heartbeats += 1
            continue
        text = message.content
        if text is None:
            raise InvalidPayload(f"invalid payload: `$.messages[{index}].content` is required "
                                 "for a spark-event")
        problem = decode_event_into(text, summary)
        if problem is not None:
            raise InvalidPayload(f"invalid payload: `$.messages[{index}].content` {problem}")
        times.append(message.generated_at)
    return payload
