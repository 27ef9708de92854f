"""The event store: what a payload stores (its body kept as received, its summary's counters and
facts, the digest its app's analysis folds in), how a run's chunks merge back into NDJSON, the
analyses kept per app, and the views of an app. Every statement is the store's
(store/spark_events.py): one transaction per payload at ingest, O(1) app reads, chunks read in one
snapshot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import zstandard

from stoker.core.secret_refs import Redactor
from stoker.events import digest as digests
from stoker.events.body import gunzip_capped, is_gzip
from stoker.events.merge import ChunkData, ChunkMeta, is_ordered, merged_stream, pack_times, plan_groups
from stoker.events.payload import Payload, event_lines
from stoker.store.db import Database
from stoker.store.records.spark_apps import SparkApp, SparkAppRef, SparkAppRun
from stoker.store.spark_events import ChunkSnapshot, NewChunk, SparkEventRows

if TYPE_CHECKING:  # the analysis (msgspec structs) is imported when a page first needs it
    from stoker.events.analysis import Aggregate
    from stoker.events.summary import SummaryDelta

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
        redacted = False
        if times:  # the CPU work before the transaction: the write lock is held for less time
            as_stored = self._redacted(received)
            redacted = as_stored is not received
            codec, body = stored_body(as_stored)
            # The digest is taken from the events as received: a redacted body's would still hold
            # the secret, so that chunk has none (its events are read when the app is first viewed).
            digest = None if redacted else compress_body(digests.pack(payload.summary))
            chunk = NewChunk(payload.payload_counter, payload.message_counter, len(times), min(times),
                             max(times), is_ordered(times), codec, pack_times(times), body, digest)
            counters = payload.summary.counters()  # all of them, zeros too: one statement shape
            facts = payload.summary.facts()
        stored = self.rows.store_payload(payload.job_name, payload.run_id, chunk, counters, facts, now, team=team)
        if stored.chunk_id is not None and self._analyses and not redacted:
            self._fold_kept(stored.app_pk, stored.chunk_id, payload, len(times))
        return IngestResult(stored.status, len(times) if stored.status == "stored" else 0)

    def _fold_kept(self, app_pk: int, chunk_id: int, payload: Payload, events: int) -> None:
        """A payload of an app whose analysis is kept (someone watches it): fold in what ingest's
        decode kept of it, so the next view reads no chunk again. A chunk a view has read already
        (its id at or below the last read) is not folded twice."""
        with self._analyses_lock:
            kept = self._analyses.get(app_pk)
            if kept is None or chunk_id <= kept.last_chunk:
                return
            kept.aggregate.add_delta(payload.summary)
            kept.folded.add(chunk_id)
            kept.event_count += events
            kept.views.clear()

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

    def stream_events(self, app_pk: int) -> Iterator[bytes]:
        """The app's events as NDJSON pieces, in generated_at order, read in one snapshot."""
        with self.rows.chunks(app_pk) as snapshot:
            yield from _merged(snapshot, [ChunkMeta(*span) for span in snapshot.spans])

    def _fold_stored(self, aggregate: Aggregate, app_pk: int, after_chunk: int, skip: set[int]) -> list[int]:
        """Fold into `aggregate` the app's chunks stored after chunk `after_chunk`, less those in
        `skip`, all read in one snapshot: each from its digest (a few bytes per task), those
        without one (stored before digests existed, or redacted) from their events. Returns the
        ids of the chunks folded."""
        with self.rows.chunks(app_pk, after_chunk) as snapshot:
            pending = {span.id for span in snapshot.spans if span.id not in skip}
            digested: set[int] = set()
            if pending:
                for chunk_id, packed in snapshot.digests():
                    delta = _digest(packed) if chunk_id in pending else None
                    if delta is not None:
                        aggregate.add_delta(delta)
                        digested.add(chunk_id)
            rest = [ChunkMeta(*span) for span in snapshot.spans if span.id in pending and span.id not in digested]
            if rest:
                aggregate.add_pieces(_merged(snapshot, rest))
        return sorted(pending)

    def analysis(self, app: SparkApp, *, group: str | None = None, counts_only: bool = False) -> dict[str, Any]:
        """Timeline, stage statistics and cores usage of an app (events/analysis.py), or of one job
        group in it (a run of a warm session). The aggregate is kept: a view with no new events
        reuses the last answer, and new chunks are folded into it, so a live application of a
        million events is read from its first event only once. `counts_only`: the stages'
        counters only (events/analysis.py), what progress needs."""
        from stoker.events.analysis import Aggregate

        with self._analyses_lock:
            kept = self._analyses.pop(app.id, None)
            if kept is None or kept.event_count != app.event_count:
                kept = kept or _KeptAnalysis(Aggregate())
                read = self._fold_stored(kept.aggregate, app.id, kept.last_chunk, kept.folded)
                kept.last_chunk = max([*read, *kept.folded], default=kept.last_chunk)
                kept.folded = {i for i in kept.folded if i > kept.last_chunk}
                kept.event_count = app.event_count
                kept.views.clear()
            view = kept.views.get((group, counts_only))
            if view is None:
                view = kept.views[(group, counts_only)] = kept.aggregate.view(
                    app.start_ms, app.end_ms, group=group, counts_only=counts_only)
                while len(kept.views) > KEPT_VIEWS:
                    kept.views.pop(next(iter(kept.views)))
            self._analyses[app.id] = kept  # most recently used last
            while len(self._analyses) > KEPT_ANALYSES:
                self._analyses.pop(next(iter(self._analyses)))
            return view

    def app_named(self, *, app_id: str | None = None, job_name: str | None = None,
                  app_name: str | None = None) -> SparkApp | None:
        """The stored app with this Spark application id, else job `job_name`'s called `app_name`."""
        return self.rows.app_named(app_id=app_id, job_name=job_name, app_name=app_name)

    def apps_of(self, app_ids: list[str]) -> list[SparkAppRef]:
        """The stored apps whose Spark application id is one of these (a run's attempts record them)."""
        return self.rows.apps_of(app_ids)


def _digest(packed: bytes) -> SummaryDelta | None:
    """A stored digest read back; None when it cannot be (its chunk is then read from its events)."""
    try:
        return digests.unpack(decompress_body("zstd", packed))
    except zstandard.ZstdError:
        return None


def _merged(snapshot: ChunkSnapshot, index: list[ChunkMeta]) -> Iterator[bytes]:
    """The events of these chunks of the snapshot as NDJSON pieces, in generated_at order."""

    def load(ids: list[int]) -> list[ChunkData]:
        return [ChunkData(chunk.id, chunk.times, decompress_body(chunk.codec, chunk.body), chunk.ordered)
                for chunk in snapshot.load(ids)]

    return merged_stream(plan_groups(index), load)


SILENCE = "heartbeat timeout"
KEPT_ANALYSES = 16  # apps whose aggregate stays in memory (the most recently viewed)
KEPT_VIEWS = 8  # per app: the whole app's view and its job groups' (the runs being watched)


@dataclass
class _KeptAnalysis:
    aggregate: Aggregate
    last_chunk: int = 0
    event_count: int = -1
    # by (job group (None: the app), counts only)
    views: dict[tuple[str | None, bool], dict[str, Any]] = field(default_factory=dict)
    folded: set[int] = field(default_factory=set)  # chunks after last_chunk folded in at ingest


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
