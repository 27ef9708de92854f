"""One run event as every sink sees it: the outbox row turned into one JSON document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from stoker.store.outbox import EVENT_NAMES as RUN_EVENT_NAMES

# Every event name the outbox carries: the run events (store/outbox.py run_event) and the clusters'.
EVENT_NAMES = (*RUN_EVENT_NAMES,
               *(f"cluster.{status}" for status in ("registered", "scheduling", "scheduled", "configuring",
                                                     "configured", "ready", "degraded", "failed", "destroyed")))


@dataclass(frozen=True)
class Event:
    seq: int  # the outbox seq: the event id everywhere (SSE id, webhook delivery id, NATS dedupe)
    run_id: str | None  # None for cluster events
    job_id: str | None
    event: str
    payload: dict[str, Any]
    created_at: float

    def document(self) -> dict[str, Any]:
        """The payload plus its identity; the same shape on the stream, webhooks and NATS."""
        return {**self.payload, "seq": self.seq, "event": self.event, "run_id": self.run_id,
                "job_id": self.job_id, "created_at": self.created_at}

    def body(self) -> bytes:
        return orjson.dumps(self.document())

    def nats_body(self) -> bytes:
        """What NATS carries: a seed API's own message when the event has one (a refused Sate
        execution, as Sate published it to its dead_letter_queue topic: its consumers read it
        unchanged; the event's identity is in the headers), else the document."""
        message = self.payload.get("seed_message")
        return self.body() if message is None else orjson.dumps(message)

    @classmethod
    def from_row(cls, row: Any) -> Event:
        return cls(seq=row.seq, run_id=row.run_id, job_id=row.job_id, event=row.event,
                   payload=dict(row.payload or {}), created_at=row.created_at)
