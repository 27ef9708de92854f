"""The event store: what a payload stores (its body kept as received, its summary's counters and
facts), how a run's chunks merge back into NDJSON, the analyses kept per app, and the views of an
app. Every statement is the store's (store/spark_events.py): one transaction per payload at ingest,
O(1) app reads, chunks read in one snapshot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import zstandard

from stoker.core.secret_refs import Redactor
from stoker.events.body import gunzip_capped, is_gzip
from stoker.events.merge import ChunkData, ChunkMeta, is_ordered, merged_stream, pack_times, plan_groups
from stoker.events.payload import Payload, event_lines
from stoker.store.db import Database
from stoker.store.records.spark_apps import SparkApp, SparkAppRef, SparkAppRun
from stoker.store.spark_events import NewChunk, SparkEventRows

if TYPE_CHECKING:  # the analysis (msgspec structs) is imported when a page first needs it
    from stoker.events.analysis import Aggregate

SUMMARY_COLUMNS = (
    "app_name", "app_id", "spark_version", "start_ms", "end_ms", "jobs", "failed_jobs", "stages",
    "failed_stages", "tasks", "failed_tasks", "killed_tasks", "executors_added", "executors_removed",
    "task_time_ms", "gc_time_ms", "shuffle_read_bytes", "shuffle_write_bytes", "spilled_bytes",
    "input_bytes", "input_records", "output_bytes", "output_records",
)


# A chunk's body is its payload as received: the gzip body the listener sent, kept byte for byte
# ("payload+gzip"), or a plain-JSON body zstd-compressed ("payload+zstd"). Ingest checks every event
# but never re-serialises one: joining and recompressing 5 KB events cost about a third of ingest.
# Export decodes the payload again (`event_lines`), which runs well above what NDJSON export needs.
# Chunks that hold NDJSON ("zstd", "none") are read too.
_local = threading.local()  # a compressor per thread: its context is reused from payload to payload
_NO_CAP = 1 << 62  # a stored body already passed ingest's size cap


def compress_body(body: bytes) -> bytes:
    compressor = getattr(_local, "zstd", None)
    if compressor is None:
        compressor = _local.zstd = zstandard.ZstdCompressor(level=1)
    return compressor.compress(body)


def stored_body(received: bytes) -> tuple[str, bytes]:
    """(codec, body) to store for a payload that came in as the body `received`."""
    if is_gzip(received):
        return "payload+gzip", received
    return "payload+zstd", compress_body(received)


def decompress_body(codec: str, data: bytes) -> bytes:
    """A chunk's events as NDJSON."""
    if codec == "payload+gzip":
        return event_lines(gunzip_capped(data, _NO_CAP))
    if codec == "payload+zstd":
        return event_lines(zstandard.ZstdDecompressor().decompress(data))
    if codec == "zstd":
        return zstandard.ZstdDecompressor().decompress(data)
    if codec == "none":
        return bytes(data)
    raise ValueError(f"unknown chunk codec {codec!r}")


@dataclass(frozen=True)
class IngestResult:
    status: str  # stored | duplicate | heartbeat
    events: int


class EventStore:
    def __init__(self, db: Database, *, redaction: Callable[[], Redactor] | None = None) -> None:
        self.rows = SparkEventRows(db)
        # The values of named secrets, hidden from the events stored (store/secrets.py RedactionCache).
        self.redaction = redaction
        # app row id -> (event count when analysed, the analysis): an app's page pays for the pass
        # over its events once per change, not per view.
        self._analyses: dict[int, _KeptAnalysis] = {}
        self._analyses_lock = threading.Lock()

    # ---- ingest -------------------------------------------------------------------------------
    def ingest(self, payload: Payload, received: bytes, *, now: float | None = None,
               team: str | None = None) -> IngestResult:
        """Store a checked payload; `received` is the body it came in (gzip or JSON), kept as is.
        `team`: the poster's team, whose app it must be (None: a trusted poster, e.g. the listener
        of Stoker's own runs, whose apps are their runs' teams')."""
        now = time.time() if now is None else now
        times = payload.times
        chunk = None
        counters: dict[str, int] = {}
        facts: dict[str, object] = {}
        if times:  # the CPU work before the transaction: the write lock is held for less time
            codec, body = stored_body(self._redacted(received))
            chunk = NewChunk(payload.payload_counter, payload.message_counter, len(times), min(times),
                             max(times), is_ordered(times), codec, pack_times(times), body)
            counters = payload.summary.counters()  # all of them, zeros too: one statement shape
            facts = payload.summary.facts()
        status = self.rows.store_payload(payload.job_name, payload.run_id, chunk, counters, facts, now, team=team)
        return IngestResult(status, len(times) if status == "stored" else 0)

    def _redacted(self, received: bytes) -> bytes:
        """The payload with every secret's value shown as [REDACTED] (an event's plan, its job
        description, a conf a run set): the body is kept as received unless it holds one."""
        redactor = self.redaction() if self.redaction is not None else None
        if not redactor:
            return received
        raw = gunzip_capped(received, _NO_CAP) if is_gzip(received) else received
        return redactor.redact_bytes(raw) if redactor.found_in(raw) else received

    def last_counters(self, job_name: str, run_id: str) -> tuple[int, int] | None:
        """(payload_counter, message_counter) of the app's latest stored payload (highest payload
        counter, then message counter), or None: how a retry that grew is told from a new payload."""
        return self.rows.last_counters(job_name, run_id)

    def end_silent_apps(self, silent_seconds: float, *, now: float | None = None) -> int:
        """Mark ended the apps heard from last more than `silent_seconds` ago with no
        ApplicationEnd: their driver died (listeners send a heartbeat every 10 s). The end is the
        last time they were heard from; the mark says why. Returns how many were ended."""
        now = time.time() if now is None else now
        return self.rows.end_silent(now - silent_seconds, SILENCE)

    # ---- queries ------------------------------------------------------------------------------
    def job_names(self, team: str | None = None) -> list[str]:
        return self.rows.job_names(team)

    def runs(self, job_name: str, team: str | None = None) -> list[SparkAppRun]:
        return self.rows.runs(job_name, team)

    def app(self, job_name: str, run_id: str, team: str | None = None) -> SparkApp:
        """The app's row (summary included): one indexed read; within `team` when given."""
        return self.rows.app(job_name, run_id, team)

    def stream_events(self, app_pk: int, after_chunk: int = 0, chunks_read: list[int] | None = None
                      ) -> Iterator[bytes]:
        """The app's events as NDJSON pieces, in generated_at order, read in one snapshot: all of
        them, or those of the chunks stored after chunk `after_chunk` (ids only grow). The ids of
        the chunks read are appended to `chunks_read` when one is given."""
        with self.rows.chunks(app_pk, after_chunk) as snapshot:
            index = [ChunkMeta(*span) for span in snapshot.spans]
            if chunks_read is not None:
                chunks_read.extend(chunk.id for chunk in index)

            def load(ids: list[int]) -> list[ChunkData]:
                return [ChunkData(chunk.id, chunk.times, decompress_body(chunk.codec, chunk.body),
                                  chunk.ordered) for chunk in snapshot.load(ids)]

            yield from merged_stream(plan_groups(index), load)

    def analysis(self, app: SparkApp) -> dict[str, Any]:
        """Timeline, stage statistics and cores usage of an app (events/analysis.py). The aggregate
        is kept: a view with no new events reuses the last answer, and new chunks are folded into
        it, so a live application of a million events is read from its first event only once."""
        from stoker.events.analysis import Aggregate

        with self._analyses_lock:
            kept = self._analyses.pop(app.id, None)
            if kept is None or kept.event_count != app.event_count:
                kept = kept or _KeptAnalysis(Aggregate())
                read: list[int] = []
                kept.aggregate.add_pieces(self.stream_events(app.id, kept.last_chunk, read))
                kept.last_chunk = max(read, default=kept.last_chunk)
                kept.event_count = app.event_count
                kept.view = kept.aggregate.view(app.start_ms, app.end_ms)
            self._analyses[app.id] = kept  # most recently used last
            while len(self._analyses) > KEPT_ANALYSES:
                self._analyses.pop(next(iter(self._analyses)))
            return kept.view

    def apps_of(self, app_ids: list[str]) -> list[SparkAppRef]:
        """The stored apps whose Spark application id is one of these (a run's attempts record them)."""
        return self.rows.apps_of(app_ids)


SILENCE = "heartbeat timeout"
KEPT_ANALYSES = 16  # apps whose aggregate stays in memory (the most recently viewed)


@dataclass
class _KeptAnalysis:
    aggregate: Aggregate
    last_chunk: int = 0
    event_count: int = -1
    view: dict[str, Any] = field(default_factory=dict)


def _ended_by(app: SparkApp) -> str | None:
    if app.end_ms is None:
        return None
    return app.ended_by or "SparkListenerApplicationEnd"


def duration_view(app: SparkApp, *, now: float | None = None) -> dict[str, Any]:
    """Start, end and duration from the ApplicationStart/End Timestamps (epoch ms)."""
    start, end = app.start_ms, app.end_ms
    view: dict[str, Any] = {"job_name": app.job_name, "run_id": app.run_id,
                            "start": start, "end": end, "duration_ms": None, "elapsed_ms": None,
                            "ended_by": _ended_by(app)}
    if start is None:
        view["state"] = "unknown"  # no SparkListenerApplicationStart received (yet)
    elif end is None:
        view["state"] = "running"
        now_ms = int((time.time() if now is None else now) * 1000)
        view["elapsed_ms"] = max(0, now_ms - start)
    else:
        view["state"] = "ended"
        view["duration_ms"] = end - start
    return view


def summary_view(app: SparkApp) -> dict[str, Any]:
    view: dict[str, Any] = {"job_name": app.job_name, "run_id": app.run_id}
    view.update({name: getattr(app, name) for name in SUMMARY_COLUMNS})
    view.update(events=app.event_count, first_seen_at=app.first_seen_at, ended_by=_ended_by(app),
                last_seen_at=app.last_seen_at,
                state="unknown" if app.start_ms is None else
                ("running" if app.end_ms is None else "ended"))
    return view
