"""The statements of the Spark event collector: one transaction per payload at ingest, O(1) app
reads, a run's chunks read in one snapshot. events/store.py (`EventStore`) decides what a payload
stores and how chunks merge back into events; every statement it needs is here.

`store_payload` opens exactly one (write) transaction per payload, so a payload is stored whole or
not at all, and a retry is recognised by the unique (app, payload_counter, message_counter)
constraint inside that same transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stoker.core.errors import NotFound
from stoker.core.teams import DEFAULT_TEAM
from stoker.store.db import Database
from stoker.store.records import from_row
from stoker.store.records.spark_apps import SparkApp, SparkAppRef, SparkAppRun
from stoker.store.tables import spark_apps, spark_event_chunks


@dataclass(frozen=True)
class NewChunk:
    """One payload's events as a chunk row stores them (its body already encoded by the caller)."""

    payload_counter: int
    message_counter: int
    event_count: int
    min_time: int
    max_time: int
    ordered: bool
    codec: str
    times: bytes  # int64 little-endian per event
    body: bytes
    digest: bytes | None = None  # what the app's analysis folds in of it (events/digest.py)


class ChunkSpan(NamedTuple):
    """A stored chunk's place in time, for planning the merge."""

    id: int
    min_time: int
    max_time: int
    ordered: bool


class Stored(NamedTuple):
    """What storing a payload did: its status, its app's row id, the new chunk's id (stored only)."""

    status: str
    app_pk: int
    chunk_id: int | None


class StoredChunk(NamedTuple):
    id: int
    times: bytes
    codec: str
    body: bytes
    ordered: bool


class ChunkSnapshot:
    """The chunks of one app after some chunk, all read in one read transaction."""

    def __init__(self, conn: Connection, app_pk: int, after_chunk: int, spans: list[ChunkSpan]) -> None:
        self._conn = conn
        self._app_pk, self._after_chunk = app_pk, after_chunk
        self.spans = spans

    def digests(self) -> Iterator[tuple[int, bytes]]:
        """(id, digest) of these chunks that have a digest, in the spans' order (min time, id)."""
        t = spark_event_chunks.c
        rows = self._conn.execute(sa.select(t.id, t.digest)
                                  .where(t.spark_app_id == self._app_pk, t.id > self._after_chunk,
                                         t.digest.is_not(None))
                                  .order_by(t.min_generated_at, t.id))
        for row in rows:
            yield row.id, bytes(row.digest)

    def load(self, ids: list[int]) -> list[StoredChunk]:
        t = spark_event_chunks.c
        rows = self._conn.execute(sa.select(t.id, t.times, t.codec, t.body, t.ordered)
                                  .where(t.id.in_(ids)).order_by(t.id))
        return [StoredChunk(row.id, bytes(row.times), row.codec, row.body, row.ordered) for row in rows]


# Ingest runs a handful of fixed statements per payload. As textual SQL (the same on SQLite and
# PostgreSQL) they are compiled once: building them as Core constructs on every payload cost more
# than the database work itself for small payloads.
_SELECT_APP = sa.text("SELECT id, team_id FROM spark_apps WHERE job_name = :job_name AND run_id = :run_id")
# A new app is its run's team's when its run_id is one of Stoker's runs (the listener of a run
# Stoker started), else the team of the token that posted it.
_INSERT_APP = sa.text(
    "INSERT INTO spark_apps (job_name, run_id, first_seen_at, last_seen_at, team_id) "
    "VALUES (:job_name, :run_id, :now, :now, "
    "        COALESCE((SELECT team_id FROM runs WHERE id = :run_key), CAST(:team AS VARCHAR(64)))) "
    "ON CONFLICT DO NOTHING RETURNING id, team_id")
_INSERT_CHUNK = sa.text(
    "INSERT INTO spark_event_chunks (spark_app_id, payload_counter, message_counter, event_count, "
    "min_generated_at, max_generated_at, ordered, codec, times, body, digest, received_at) "
    "VALUES (:app, :payload_counter, :message_counter, :event_count, :min_time, :max_time, "
    ":ordered, :codec, :times, :body, :digest, :now) ON CONFLICT DO NOTHING RETURNING id")
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


class SparkEventRows:
    """The rows of `spark_apps` and `spark_event_chunks`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # (job_name, run_id) -> (app row id, its team), filled after a commit. App rows are never
        # deleted, so a cached id stays right; it saves the look-up statement on every payload of a
        # running app.
        self._app_ids: dict[tuple[str, str], tuple[int, str]] = {}

    # ---- ingest -------------------------------------------------------------------------------
    def store_payload(self, job_name: str, run_id: str, chunk: NewChunk | None,
                      counters: dict[str, int], facts: dict[str, object], now: float, *,
                      team: str | None = None, new_app_team: str = DEFAULT_TEAM) -> Stored:
        """Store a payload's chunk and add it to its app's summary, in one transaction: "stored",
        "duplicate" (a retry of a stored payload) or, with no chunk, "heartbeat"; with the app's
        row id and the new chunk's. With `team`, the app must be that team's (an ingest token is
        bound to its team): another team's app is not found, and nothing is stored. A new app is its
        run's team's, or else `new_app_team`'s."""
        chunk_id: int | None = None
        if chunk is not None:
            update = _summary_update(tuple(counters), tuple(facts))
        key = (job_name, run_id)
        with self.db.write() as conn:
            known = self._app_ids.get(key)
            app_pk, app_team = known if known is not None else self._ensure_app(
                conn, job_name, run_id, now, team if team is not None else new_app_team)
            if team is not None and app_team != team:
                raise NotFound(f"no Spark app of job '{job_name}', run '{run_id}' in team '{team}'")
            if chunk is None:
                conn.execute(_SEEN, {"now": now, "app": app_pk})
                status = "heartbeat"
            elif (inserted := conn.execute(_INSERT_CHUNK, {
                    "app": app_pk, "payload_counter": chunk.payload_counter,
                    "message_counter": chunk.message_counter, "event_count": chunk.event_count,
                    "min_time": chunk.min_time, "max_time": chunk.max_time, "ordered": chunk.ordered,
                    "codec": chunk.codec, "times": chunk.times, "body": chunk.body, "digest": chunk.digest,
                    "now": now,
            }).first()) is None:  # a retry already stored
                conn.execute(_SEEN, {"now": now, "app": app_pk})
                status = "duplicate"
            else:
                chunk_id = int(inserted[0])
                params: dict[str, Any] = {"now": now, "app": app_pk, "event_count": chunk.event_count}
                params.update({f"c_{name}": value for name, value in counters.items()})
                params.update({f"f_{name}": value for name, value in facts.items()})
                conn.execute(update, params)
                status = "stored"
        if len(self._app_ids) > 100_000:
            self._app_ids.clear()
        self._app_ids[key] = (app_pk, app_team)  # committed: the row exists for good
        return Stored(status, app_pk, chunk_id)

    def last_counters(self, job_name: str, run_id: str) -> tuple[int, int] | None:
        """(payload_counter, message_counter) of the app's latest stored payload, or None."""
        c = spark_event_chunks.c
        query = (sa.select(c.payload_counter, c.message_counter)
                 .join(spark_apps, spark_apps.c.id == c.spark_app_id)
                 .where(spark_apps.c.job_name == job_name, spark_apps.c.run_id == run_id)
                 .order_by(c.payload_counter.desc(), c.message_counter.desc()).limit(1))
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else (int(row[0]), int(row[1]))

    def end_silent(self, cutoff: float, reason: str) -> int:
        """Mark ended, for `reason`, the started apps heard from last before `cutoff`; the end is
        the last time they were heard from. Returns how many were ended."""
        with self.db.write() as conn:
            ended = conn.execute(_END_SILENT, {"cutoff": cutoff, "reason": reason}).rowcount
        return int(ended or 0)

    @staticmethod
    def _ensure_app(conn: Connection, job_name: str, run_id: str, now: float, team: str) -> tuple[int, str]:
        names = {"job_name": job_name, "run_id": run_id}
        found = conn.execute(_SELECT_APP, names).first()
        if found is None:
            found = conn.execute(_INSERT_APP, {**names, "now": now, "team": team, "run_key": run_id}).first()
        if found is None:  # PostgreSQL: a concurrent payload created it first
            found = conn.execute(_SELECT_APP, names).one()
        return int(found[0]), str(found[1])

    # ---- queries (each within `team` when given: another team's apps are not there) -----------
    def job_names(self, team: str | None = None) -> list[str]:
        query = sa.select(spark_apps.c.job_name).distinct().order_by(spark_apps.c.job_name)
        if team is not None:
            query = query.where(spark_apps.c.team_id == team)
        with self.db.read() as conn:
            return [row[0] for row in conn.execute(query)]

    def runs(self, job_name: str, team: str | None = None) -> list[SparkAppRun]:
        c = spark_apps.c
        query = (sa.select(c.run_id, c.first_seen_at, c.last_seen_at, c.event_count, c.start_ms, c.end_ms)
                 .where(c.job_name == job_name).order_by(c.first_seen_at, c.id))
        if team is not None:
            query = query.where(c.team_id == team)
        with self.db.read() as conn:
            runs = [from_row(SparkAppRun, row) for row in conn.execute(query)]
        if not runs:
            raise NotFound(f"no Spark events for job '{job_name}'")
        return runs

    def app(self, job_name: str, run_id: str, team: str | None = None) -> SparkApp:
        """The app's row (summary included): one indexed read."""
        c = spark_apps.c
        query = sa.select(spark_apps).where(c.job_name == job_name, c.run_id == run_id)
        known = sa.select(c.id).where(c.job_name == job_name).limit(1)
        if team is not None:
            query, known = query.where(c.team_id == team), known.where(c.team_id == team)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            with self.db.read() as conn:
                known_job = conn.execute(known).first()
            if known_job is None:
                raise NotFound(f"no Spark events for job '{job_name}'")
            raise NotFound(f"job '{job_name}' has no run '{run_id}'")
        return from_row(SparkApp, row)

    @contextmanager
    def chunks(self, app_pk: int, after_chunk: int = 0) -> Iterator[ChunkSnapshot]:
        """The app's chunks stored after chunk `after_chunk` (ids only grow), by (min time, id),
        and a way to load them, all in one read snapshot."""
        t = spark_event_chunks.c
        with self.db.read() as conn:
            spans = [ChunkSpan(row.id, row.min_generated_at, row.max_generated_at, row.ordered)
                     for row in conn.execute(
                         sa.select(t.id, t.min_generated_at, t.max_generated_at, t.ordered)
                         .where(t.spark_app_id == app_pk, t.id > after_chunk)
                         .order_by(t.min_generated_at, t.id))]
            yield ChunkSnapshot(conn, app_pk, after_chunk, spans)

    def app_named(self, *, app_id: str | None = None, job_name: str | None = None,
                  app_name: str | None = None) -> SparkApp | None:
        """The stored app (its whole row) with this Spark application id, else the latest of job
        `job_name` whose application is called `app_name` (a submit-mode attempt while it runs: its
        application's id is recorded when it ends); None when no event of it arrived yet."""
        c = spark_apps.c
        if app_id is not None:
            query = sa.select(spark_apps).where(c.app_id == app_id)
        elif job_name is not None and app_name is not None:
            query = sa.select(spark_apps).where(c.job_name == job_name, c.app_name == app_name)
        else:
            return None
        with self.db.read() as conn:
            row = conn.execute(query.order_by(c.id.desc()).limit(1)).first()
        return None if row is None else from_row(SparkApp, row)

    def apps_of(self, app_ids: list[str]) -> list[SparkAppRef]:
        """The stored apps whose Spark application id is one of these (a run's attempts record them)."""
        if not app_ids:
            return []
        c = spark_apps.c
        with self.db.read() as conn:
            rows = conn.execute(sa.select(c.job_name, c.run_id, c.app_id, c.event_count)
                                .where(c.app_id.in_(app_ids)).order_by(c.id))
            return [from_row(SparkAppRef, row) for row in rows]
