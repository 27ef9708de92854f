"""Handing a collector payload to the event store from another protocol's adapter (the Delight
agent's, compat/delight.py): the same check, store and metrics as `POST /collect`, so what an
adapter translates lands exactly where the listener's payloads do."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from stoker.events.body import BodyLimits, gunzip_capped
from stoker.events.store import EventStore, IngestResult

__all__ = ["BodyLimits", "IngestResult", "body_limits", "gunzip_capped", "ingest", "last_chunk"]


def body_limits(state: Any) -> BodyLimits:
    """The collector's body limits of this app (its settings, else the defaults)."""
    limits: BodyLimits = getattr(state, "event_body_limits", None) or BodyLimits()
    return limits


async def ingest(state: Any, body: bytes, team: str | None = None) -> IngestResult:
    """Check and store one collector payload (gzip or JSON bytes): 4xx errors as /collect's; with
    `team`, into that team's apps only (EventStore.ingest)."""
    payload = await state.payload_checker.check(body, body_limits(state))
    store: EventStore = state.event_store
    result = await run_in_threadpool(lambda: store.ingest(payload, body, team=team))
    state.process_metrics.ingested(len(body), result.events)
    return result


async def last_chunk(state: Any, job_name: str, run_id: str) -> tuple[int, int] | None:
    """(payload_counter, message_counter) of the app's latest stored payload, or None."""
    store: EventStore = state.event_store
    return await run_in_threadpool(store.last_counters, job_name, run_id)
