"""The collector payload (seed-apis.md §4), decoded and checked in one pass.

msgspec decodes straight into typed structs, so a wrong field comes back as a message naming its
path (`$.messages[3].generated_at`), and an event's `content` string is exactly the text the client
sent, which is what is stored (as UTF-8): never parsed-and-dumped again. Each `content` is checked
(and read for the summary) as the `str` msgspec made, and the events become one NDJSON body with
one join and one encode, not a `bytes` object per event: on a 5 KB TaskEnd, allocating and copying
is a good part of the cost.
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
    """A checked payload: the events' generated_at (ms) and texts, in arrival order."""

    job_name: str
    run_id: str
    payload_counter: int
    message_counter: int
    times: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # each event's JSON text, one line each
    heartbeats: int = 0
    summary: SummaryDelta = field(default_factory=SummaryDelta)

    @property
    def events(self) -> list[bytes]:
        """Each event's bytes, as received."""
        return [text.encode() for text in self.texts]

    def ndjson(self) -> bytes:
        """The events as stored: each one's UTF-8 bytes followed by a line break."""
        self.texts.append("")
        try:
            return "\n".join(self.texts).encode()
        finally:
            self.texts.pop()


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
    times, texts, summary = payload.times, payload.texts, payload.summary
    for index, message in enumerate(raw.messages):
        if message.message_type == HEARTBEAT:
            payload.heartbeats += 1
            continue
        text = message.content
        if text is None:
            raise InvalidPayload(f"invalid payload: `$.messages[{index}].content` is required "
                                 "for a spark-event")
        # A raw line break can only be JSON whitespace (inside strings JSON escapes it); it would
        # split the event across NDJSON lines, so it becomes a space: the same JSON value.
        if "\n" in text or "\r" in text:
            text = text.replace("\r", " ").replace("\n", " ")
        problem = decode_event_into(text, summary)
        if problem is not None:
            raise InvalidPayload(f"invalid payload: `$.messages[{index}].content` {problem}")
        times.append(message.generated_at)
        texts.append(text)
    return payload
