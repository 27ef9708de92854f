"""A chunk's digest: what the kept analysis of its app (events/analysis.py) folds in of it, stored
with the chunk at ingest.

Ingest's one decode of a payload already yields its TaskEnds as integers and the text of its rare
job, stage and executor events (events/summary.py). Stored beside the chunk, that lets the first
view of an application (after a restart, or of one nobody watched while its events arrived) fold
in a few bytes per task instead of decoding every event's JSON again: 80 bytes per TaskEnd before
compression, against ~5 KB of JSON.

The digest is msgpack: (version, the task records as int64 little-endian, the failed tasks'
reasons, the other events' text). A chunk without one (stored before digests existed, or whose
body was redacted) is read from its events as before.
"""

from __future__ import annotations

import msgspec

from stoker.events.merge import pack_times, unpack_times
from stoker.events.summary import SummaryDelta

VERSION = 1

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(
    tuple[int, bytes, list[tuple[int, str, str | None, str | None, str | None]], list[str]])


def pack(delta: SummaryDelta) -> bytes:
    """The digest of a payload whose summary is `delta` (what `Aggregate.add_delta` reads)."""
    others = [text if isinstance(text, str) else text.decode() for text in delta.other_events]
    return _encoder.encode((VERSION, pack_times(delta.task_records), delta.task_failures, others))


def unpack(data: bytes) -> SummaryDelta | None:
    """The part of a summary a digest holds; None for a digest of another version or shape, or
    not msgpack at all (the chunk is then read from its events)."""
    try:
        version, records, failures, others = _decoder.decode(data)
    except msgspec.MsgspecError:
        return None
    if version != VERSION:
        return None
    other_events: list[str | bytes] = list(others)
    return SummaryDelta(task_records=unpack_times(records), task_failures=failures, other_events=other_events)
