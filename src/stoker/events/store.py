"""The event store: one transaction per payload at ingest, O(1) app reads, chunked export.

Every statement here runs inside a transaction the caller can see: `ingest` opens exactly one
(write) per payload, so a payload is stored whole or not at all, and a retry is recognised by the
unique (app, payload_counter, message_counter) constraint inside that same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import zstandard
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from stoker.core.errors import NotFound
from stoker.events.merge import (ChunkData, ChunkMeta, is_ordered, merged_stream, pack_times,
                                 plan_groups)
from stoker.events.payload import Payload
from stoker.events.tables import spark_apps, spark_event_chunks

SUMMARY_COLUMNS = (
    "app_name", "app_id", "spark_version", "start_ms", "end_ms", "jobs", "failed_jobs", "stages",
    "failed_stages", "tasks", "failed_tasks", "executors_added", "executors_removed",
    "task_time_ms", "gc_time_ms", "shuffle_read_bytes", "shuffle_write_bytes", "spilled_bytes",
    "input_bytes", "input_records", "output_bytes", "output_records",
)


# Chunk bodies are stored zstd-compressed (level 1): Spark's JSON shrinks ten-fold or more for a few
# ms per 1,000 events, which costs less than writing the raw bytes (the database write dominated
# ingest), and decompression runs at GB/s, far above what NDJSON export needs. The bytes inside are
# still exactly the events as received.
CODEC = "zstd"


def compress_body(body: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=1).compress(body)


def decompress_body(codec: str, data: bytes) -> bytes:
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
    def __init__(self, db: Any) -> None:
        self.db = db
        self._insert = sqlite.insert if db.is_sqlite else postgresql.insert

    # ---- ingest -------------------------------------------------------------------------------
    def ingest(self, payload: Payload, *, now: float | None = None) -> IngestResult:
        now = time.time() if now is None else now
        with self.db.write() as conn:
            app_pk = self._ensure_app(conn, payload.job_name, payload.run_id, now)
            seen = sa.update(spark_apps).where(spark_apps.c.id == app_pk)
            if not payload.events:
                conn.execute(seen.values(last_seen_at=now))
                return IngestResult("heartbeat", 0)
            times = payload.times
            chunk = self._insert(spark_event_chunks).values(
                spark_app_id=app_pk, payload_counter=payload.payload_counter,
                message_counter=payload.message_counter, event_count=len(times),
                min_generated_at=min(times), max_generated_at=max(times), ordered=is_ordered(times),
                codec=CODEC, times=pack_times(times),
                body=compress_body(b"\n".join(payload.events) + b"\n"),
                received_at=now,
            ).on_conflict_do_nothing().returning(spark_event_chunks.c.id)
            if conn.execute(chunk).first() is None:  # a retry of a payload already stored
                conn.execute(seen.values(last_seen_at=now))
                return IngestResult("duplicate", 0)
            c = spark_apps.c
            changes: dict[str, Any] = {
                name: c[name] + value for name, value in payload.summary.counters().items() if value
            }
            changes.update(payload.summary.facts())
            changes.update(last_seen_at=now, event_count=c.event_count + len(times),
                           chunk_count=c.chunk_count + 1)
            conn.execute(seen.values(**changes))
            return IngestResult("stored", len(times))

    def _ensure_app(self, conn: Connection, job_name: str, run_id: str, now: float) -> int:
        found = conn.execute(sa.select(spark_apps.c.id).where(
            spark_apps.c.job_name == job_name, spark_apps.c.run_id == run_id)).scalar()
        if found is not None:
            return int(found)
        created = conn.execute(self._insert(spark_apps).values(
            job_name=job_name, run_id=run_id, first_seen_at=now, last_seen_at=now,
        ).on_conflict_do_nothing().returning(spark_apps.c.id)).scalar()
        if created is None:  # PostgreSQL: a concurrent payload created it first
            created = conn.execute(sa.select(spark_apps.c.id).where(
                spark_apps.c.job_name == job_name, spark_apps.c.run_id == run_id)).scalar_one()
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

    def stream_events(self, app_pk: int) -> Iterator[bytes]:
        """The app's events as NDJSON pieces, in generated_at order, read in one snapshot."""
        t = spark_event_chunks.c
        with self.db.read() as conn:
            index = [ChunkMeta(row.id, row.min_generated_at, row.max_generated_at, row.ordered)
                     for row in conn.execute(
                         sa.select(t.id, t.min_generated_at, t.max_generated_at, t.ordered)
                         .where(t.spark_app_id == app_pk).order_by(t.min_generated_at, t.id))]

            def load(ids: list[int]) -> list[ChunkData]:
                rows = conn.execute(sa.select(t.id, t.times, t.body, t.ordered, t.codec)
                                    .where(t.id.in_(ids)).order_by(t.id))
                return [ChunkData(row.id, bytes(row.times), decompress_body(row.codec, row.body),
                                  row.ordered) for row in rows]

            yield from merged_stream(plan_groups(index), load)


def duration_view(app: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
    """Start, end and duration from the ApplicationStart/End Timestamps (epoch ms)."""
    start, end = app["start_ms"], app["end_ms"]
    view: dict[str, Any] = {"job_name": app["job_name"], "run_id": app["run_id"],
                            "start": start, "end": end, "duration_ms": None, "elapsed_ms": None}
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
    view.update(events=app["event_count"], first_seen_at=app["first_seen_at"],
                last_seen_at=app["last_seen_at"],
                state="unknown" if app["start_ms"] is None else
                ("running" if app["end_ms"] is None else "ended"))
    return view
