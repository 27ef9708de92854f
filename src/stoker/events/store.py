"""The event store: one transaction per payload at ingest, O(1) app reads, chunked export.

Every statement here runs inside a transaction the caller can see: `ingest` opens exactly one
(write) per payload, so a payload is stored whole or not at all, and a retry is recognised by the
unique (app, payload_counter, message_counter) constraint inside that same transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import zstandard
from sqlalchemy.engine import Connection

from stoker.core.errors import NotFound
from stoker.events.body import gunzip_capped, is_gzip
from stoker.events.merge import ChunkData, ChunkMeta, is_ordered, merged_stream, pack_times, plan_groups
from stoker.events.payload import Payload, event_lines
from stoker.events.tables import spark_apps, spark_event_chunks

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


# Ingest runs a handful of fixed statements per payload. As textual SQL (the same on SQLite and
# PostgreSQL) they are compiled once: building them as Core constructs on every payload cost more
# than the database work itself for small payloads.
_SELECT_APP = sa.text("SELECT id FROM spark_apps WHERE job_name = :job_name AND run_id = :run_id")
_INSERT_APP = sa.text(
    "INSERT INTO spark_apps (job_name, run_id, first_seen_at, last_seen_at) "
    "VALUES (:job_name, :run_id, :now, :now) ON CONFLICT DO NOTHING RETURNING id")
_INSERT_CHUNK = sa.text(
    "INSERT INTO spark_event_chunks (spark_app_id, payload_counter, message_counter, event_count, "
    "min_generated_at, max_generated_at, ordered, codec, times, body, received_at) "
    "VALUES (:app, :payload_counter, :message_counter, :event_count, :min_time, :max_time, "
    ":ordered, :codec, :times, :body, :now) ON CONFLICT DO NOTHING RETURNING id")
# An app ended for silence that speaks again is running after all: its end goes with the mark.
_REVIVE = ("end_ms = CASE WHEN ended_by IS NULL THEN end_ms END", "ended_by = NULL")
_SEEN = sa.text(f"UPDATE spark_apps SET last_seen_at = :now, {', '.join(_REVIVE)} WHERE id = :app")
_END_SILENT = sa.text(
    "UPDATE spark_apps SET end_ms = CAST(last_seen_at * 1000 AS BIGINT), ended_by = :reason "
    "WHERE end_ms IS NULL AND start_ms IS NOT NULL AND last_seen_at < :cutoff")
_updates: dict[tuple[tuple[str, ...], tuple[str, ...]], Any] = {}


def _summary_update(counters: tuple[str, ...], facts: tuple[str, ...]) -> Any:
    """The UPDATE adding these counters and setting these facts (one statement per shape: the
    counters are always all of them, so there are at most 2^5 shapes, one per set of facts)."""
    key = (counters, facts)
    statement = _updates.get(key)
    if statement is None:
        for name in counters + facts:
            if not name.isidentifier():
                raise ValueError(f"not a column name: {name!r}")
        sets = ["last_seen_at = :now", "event_count = event_count + :event_count",
                "chunk_count = chunk_count + 1"]
        sets += [f"{name} = {name} + :c_{name}" for name in counters]
        sets += [f"{name} = :f_{name}" for name in facts]
        sets += ["ended_by = NULL"] if "end_ms" in facts else list(_REVIVE)
        statement = _updates[key] = sa.text(
            f"UPDATE spark_apps SET {', '.join(sets)} WHERE id = :app")
    return statement


class EventStore:
    def __init__(self, db: Any) -> None:
        self.db = db
        # (job_name, run_id) -> app row id, filled after a commit. App rows are never deleted, so a
        # cached id stays right; it saves the look-up statement on every payload of a running app.
        self._app_ids: dict[tuple[str, str], int] = {}
        # app row id -> (event count when analysed, the analysis): an app's page pays for the pass
        # over its events once per change, not per view.
        self._analyses: dict[int, _KeptAnalysis] = {}
        self._analyses_lock = threading.Lock()

    # ---- ingest -------------------------------------------------------------------------------
    def ingest(self, payload: Payload, received: bytes, *, now: float | None = None) -> IngestResult:
        """Store a checked payload; `received` is the body it came in (gzip or JSON), kept as is."""
        now = time.time() if now is None else now
        times = payload.times
        if times:  # the CPU work before the transaction: the write lock is held for less time
            codec, body = stored_body(received)
            chunk = {"payload_counter": payload.payload_counter,
                     "message_counter": payload.message_counter, "event_count": len(times),
                     "min_time": min(times), "max_time": max(times), "ordered": is_ordered(times),
                     "codec": codec, "times": pack_times(times), "body": body, "now": now}
            counters = payload.summary.counters()  # all of them, zeros too: one statement shape
            facts = payload.summary.facts()
            update = _summary_update(tuple(counters), tuple(facts))
        key = (payload.job_name, payload.run_id)
        with self.db.write() as conn:
            app_pk = self._app_ids.get(key)
            if app_pk is None:
                app_pk = self._ensure_app(conn, payload.job_name, payload.run_id, now)
            if not times:
                conn.execute(_SEEN, {"now": now, "app": app_pk})
                result = IngestResult("heartbeat", 0)
            else:
                chunk["app"] = app_pk
                if conn.execute(_INSERT_CHUNK, chunk).first() is None:  # a retry already stored
                    conn.execute(_SEEN, {"now": now, "app": app_pk})
                    result = IngestResult("duplicate", 0)
                else:
                    params: dict[str, Any] = {"now": now, "app": app_pk, "event_count": len(times)}
                    params.update({f"c_{name}": value for name, value in counters.items()})
                    params.update({f"f_{name}": value for name, value in facts.items()})
                    conn.execute(update, params)
                    result = IngestResult("stored", len(times))
        if len(self._app_ids) > 100_000:
            self._app_ids.clear()
        self._app_ids[key] = app_pk  # committed: the row exists for good
        return result

    def last_counters(self, job_name: str, run_id: str) -> tuple[int, int] | None:
        """(payload_counter, message_counter) of the app's latest stored payload (highest payload
        counter, then message counter), or None: how a retry that grew is told from a new payload."""
        c = spark_event_chunks.c
        query = (sa.select(c.payload_counter, c.message_counter)
                 .join(spark_apps, spark_apps.c.id == c.spark_app_id)
                 .where(spark_apps.c.job_name == job_name, spark_apps.c.run_id == run_id)
                 .order_by(c.payload_counter.desc(), c.message_counter.desc()).limit(1))
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else (int(row[0]), int(row[1]))

    def end_silent_apps(self, silent_seconds: float, *, now: float | None = None) -> int:
        """Mark ended the apps heard from last more than `silent_seconds` ago with no
        ApplicationEnd: their driver died (listeners send a heartbeat every 10 s). The end is the
        last time they were heard from; the mark says why. Returns how many were ended."""
        now = time.time() if now is None else now
        with self.db.write() as conn:
            ended = conn.execute(_END_SILENT, {"cutoff": now - silent_seconds, "reason": SILENCE}).rowcount
        return int(ended or 0)

    def _ensure_app(self, conn: Connection, job_name: str, run_id: str, now: float) -> int:
        names = {"job_name": job_name, "run_id": run_id}
        found = conn.execute(_SELECT_APP, names).scalar()
        if found is not None:
            return int(found)
        created = conn.execute(_INSERT_APP, {**names, "now": now}).scalar()
        if created is None:  # PostgreSQL: a concurrent payload created it first
            created = conn.execute(_SELECT_APP, names).scalar_one()
        return int(created)

    # ---- queries ------------------------------------------------------------------------------
    def job_names(self) -> list[str]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(spark_apps.c.job_name).distinct()
                                .order_by(spark_apps.c.job_name))
            return [row[0] for row in rows]

    def runs(self, job_name: str) -> list[dict[str, Any]]:
        c = spark_apps.c
        with self.db.read() as conn:
            rows = conn.execute(sa.select(c.run_id, c.first_seen_at, c.last_seen_at, c.event_count,
                                          c.start_ms, c.end_ms)
                                .where(c.job_name == job_name).order_by(c.first_seen_at, c.id))
            runs = [dict(row._mapping) for row in rows]
        if not runs:
            raise NotFound(f"no Spark events for job '{job_name}'")
        return runs

    def app(self, job_name: str, run_id: str) -> dict[str, Any]:
        """The app's row (summary included): one indexed read."""
        c = spark_apps.c
        with self.db.read() as conn:
            row = conn.execute(sa.select(spark_apps).where(
                c.job_name == job_name, c.run_id == run_id)).first()
        if row is None:
            with self.db.read() as conn:
                known_job = conn.execute(sa.select(c.id).where(c.job_name == job_name).limit(1)).first()
            if known_job is None:
                raise NotFound(f"no Spark events for job '{job_name}'")
            raise NotFound(f"job '{job_name}' has no run '{run_id}'")
        return dict(row._mapping)

    def stream_events(self, app_pk: int, after_chunk: int = 0, chunks_read: list[int] | None = None
                      ) -> Iterator[bytes]:
        """The app's events as NDJSON pieces, in generated_at order, read in one snapshot: all of
        them, or those of the chunks stored after chunk `after_chunk` (ids only grow). The ids of
        the chunks read are appended to `chunks_read` when one is given."""
        t = spark_event_chunks.c
        with self.db.read() as conn:
            index = [ChunkMeta(row.id, row.min_generated_at, row.max_generated_at, row.ordered)
                     for row in conn.execute(
                         sa.select(t.id, t.min_generated_at, t.max_generated_at, t.ordered)
                         .where(t.spark_app_id == app_pk, t.id > after_chunk)
                         .order_by(t.min_generated_at, t.id))]
            if chunks_read is not None:
                chunks_read.extend(chunk.id for chunk in index)

            def load(ids: list[int]) -> list[ChunkData]:
                rows = conn.execute(sa.select(t.id, t.times, t.body, t.ordered, t.codec)
                                    .where(t.id.in_(ids)).order_by(t.id))
                return [ChunkData(row.id, bytes(row.times), decompress_body(row.codec, row.body),
                                  row.ordered) for row in rows]

            yield from merged_stream(plan_groups(index), load)

    def analysis(self, app: dict[str, Any]) -> dict[str, Any]:
        """Timeline, stage statistics and cores usage of an app (events/analysis.py). The aggregate
        is kept: a view with no new events reuses the last answer, and new chunks are folded into
        it, so a live application of a million events is read from its first event only once."""
        from stoker.events.analysis import Aggregate

        with self._analyses_lock:
            kept = self._analyses.pop(app["id"], None)
            if kept is None or kept.event_count != app["event_count"]:
                kept = kept or _KeptAnalysis(Aggregate())
                read: list[int] = []
                kept.aggregate.add_pieces(self.stream_events(app["id"], kept.last_chunk, read))
                kept.last_chunk = max(read, default=kept.last_chunk)
                kept.event_count = app["event_count"]
                kept.view = kept.aggregate.view(app["start_ms"], app["end_ms"])
            self._analyses[app["id"]] = kept  # most recently used last
            while len(self._analyses) > KEPT_ANALYSES:
                self._analyses.pop(next(iter(self._analyses)))
            return kept.view

    def apps_of(self, app_ids: list[str]) -> list[dict[str, Any]]:
        """The stored apps whose Spark application id is one of these (a run's attempts record them)."""
        if not app_ids:
            return []
        c = spark_apps.c
        with self.db.read() as conn:
            rows = conn.execute(sa.select(c.job_name, c.run_id, c.app_id, c.event_count)
                                .where(c.app_id.in_(app_ids)).order_by(c.id))
            return [dict(row._mapping) for row in rows]


SILENCE = "heartbeat timeout"
KEPT_ANALYSES = 16  # apps whose aggregate stays in memory (the most recently viewed)


@dataclass
class _KeptAnalysis:
    aggregate: Aggregate
    last_chunk: int = 0
    event_count: int = -1
    view: dict[str, Any] = field(default_factory=dict)


def _ended_by(app: dict[str, Any]) -> str | None:
    if app["end_ms"] is None:
        return None
    return app.get("ended_by") or "SparkListenerApplicationEnd"


def duration_view(app: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
    """Start, end and duration from the ApplicationStart/End Timestamps (epoch ms)."""
    start, end = app["start_ms"], app["end_ms"]
    view: dict[str, Any] = {"job_name": app["job_name"], "run_id": app["run_id"],
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


def summary_view(app: dict[str, Any]) -> dict[str, Any]:
    view = {"job_name": app["job_name"], "run_id": app["run_id"]}
    view.update({name: app[name] for name in SUMMARY_COLUMNS})
    view.update(events=app["event_count"], first_seen_at=app["first_seen_at"], ended_by=_ended_by(app),
                last_seen_at=app["last_seen_at"],
                state="unknown" if app["start_ms"] is None else
                ("running" if app["end_ms"] is None else "ended"))
    return view
