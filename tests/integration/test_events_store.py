"""The event store on SQLite and PostgreSQL: atomic payloads, retries stored once, ordered export."""

from __future__ import annotations

import orjson
import pytest
import sqlalchemy as sa

import stoker.events  # noqa: F401  (registers the tables, so the fixture truncates them)
from harness import payload_bytes
from stoker.core.errors import NotFound
from stoker.events.payload import parse_payload
from stoker.events.store import EventStore, duration_view


def ev(kind: str, **fields: object) -> bytes:
    return orjson.dumps({"Event": kind, **fields})


def store_payload(store, events, counter, job="job", run="run-1", now=None, **kw):
    body = payload_bytes(job, run, events, payload_counter=counter, compress=False, **kw)
    return store.ingest(parse_payload(body), body, now=now)


def export(store, job="job", run="run-1") -> list[bytes]:
    app = store.app(job, run)
    return b"".join(store.stream_events(app.id)).splitlines()


def test_payload_stored_once_and_summary_counts_once(database):
    store = EventStore(database)
    events = [(1000, ev("SparkListenerApplicationStart", **{"App Name": "pi", "App ID": "app-1",
                                                           "Timestamp": 1000})),
              (1001, ev("SparkListenerJobStart", **{"Job ID": 0})),
              (1002, ev("SparkListenerTaskEnd", **{"Task End Reason": {"Reason": "Success"},
                                                  "Task Metrics": {"Executor Run Time": 40,
                                                                   "JVM GC Time": 3}}))]
    assert store_payload(store, events, 1).status == "stored"
    assert store_payload(store, events, 1).status == "duplicate"  # a listener retry
    app = store.app("job", "run-1")
    assert app.event_count == 3 and app.chunk_count == 1
    assert (app.tasks, app.jobs, app.task_time_ms, app.gc_time_ms) == (1, 1, 40, 3)
    assert app.app_name == "pi" and app.start_ms == 1000 and app.end_ms is None
    assert len(export(store)) == 3
    store_payload(store, [(2000, ev("SparkListenerApplicationEnd", Timestamp=2500))], 2)
    view = duration_view(store.app("job", "run-1"))
    assert view["state"] == "ended" and view["duration_ms"] == 1500


def test_killed_tasks_are_counted_apart_from_failed_ones_as_spark_does(database):
    store = EventStore(database)
    reasons = ["Success", "TaskKilled", "TaskCommitDenied", "ExceptionFailure", "FetchFailed", "Success"]
    store_payload(store, [(1000 + i, ev("SparkListenerTaskEnd", **{"Task End Reason": {"Reason": r}}))
                          for i, r in enumerate(reasons)], 1)
    app = store.app("job", "run-1")
    assert (app.tasks, app.failed_tasks, app.killed_tasks) == (6, 2, 2)


def test_export_merges_overlapping_chunks_by_time_then_arrival(database):
    store = EventStore(database)
    store_payload(store, [(10, b'{"n":1}'), (30, b'{"n":2}'), (30, b'{"n":3}')], 1)
    store_payload(store, [(5, b'{"n":4}'), (30, b'{"n":5}'), (40, b'{"n":6}')], 2)
    store_payload(store, [(50, b'{"n":7}'), (45, b'{"n":8}')], 3)  # out of order inside the chunk
    store_payload(store, [(60, b'{"n" : 9}')], 4)
    lines = export(store)
    assert lines == [b'{"n":4}', b'{"n":1}', b'{"n":2}', b'{"n":3}', b'{"n":5}', b'{"n":6}',
                     b'{"n":8}', b'{"n":7}', b'{"n" : 9}']  # bytes exactly as received


def test_heartbeat_updates_last_seen_but_stores_no_event(database):
    store = EventStore(database)
    store_payload(store, [(1, b"{}")], 1, now=100.0)
    result = store_payload(store, [], 2, heartbeats=1, now=200.0)
    assert result.status == "heartbeat"
    app = store.app("job", "run-1")
    assert app.last_seen_at == 200.0 and app.event_count == 1


def test_failure_inside_the_transaction_stores_nothing(database, monkeypatch):
    store = EventStore(database)
    body = payload_bytes("job", "run-1", [(1, b"{}")], payload_counter=1, compress=False)
    payload = parse_payload(body)
    # The summary UPDATE, the last statement of the transaction, fails after the chunk insert.
    monkeypatch.setattr(payload.summary, "facts", lambda: {"no_such_column": 1})
    with pytest.raises(sa.exc.SQLAlchemyError):
        store.ingest(payload, body)
    with pytest.raises(NotFound):
        store.app("job", "run-1")  # the app row created in the same transaction was rolled back


def test_unknown_job_and_run_are_404_with_messages(database):
    store = EventStore(database)
    with pytest.raises(NotFound, match="no Spark events for job 'nope'"):
        store.runs("nope")
    store_payload(store, [(1, b"{}")], 1)
    with pytest.raises(NotFound, match="job 'job' has no run 'other'"):
        store.app("job", "other")
    assert store.job_names() == ["job"]
    assert [r.run_id for r in store.runs("job")] == ["run-1"]


def test_a_gzip_body_is_stored_byte_for_byte_and_exported_as_its_events(database):
    """What the listener sent is what is kept; export gives each event on one line, as checked."""
    import gzip

    from stoker.events.body import BodyLimits, decode_body
    from stoker.store.tables import spark_event_chunks

    store = EventStore(database)
    events = [(5, b'{"Event":"A",\n"n":1}'), (6, b'{"n" : 2}')]  # a raw line break is whitespace
    body = payload_bytes("job", "run-1", events, payload_counter=1, heartbeats=1)
    assert body[:2] == b"\x1f\x8b"
    store.ingest(parse_payload(decode_body(body, BodyLimits())), body)
    plain = payload_bytes("job", "run-1", [(7, b'{"n":3}')], payload_counter=2, compress=False)
    store.ingest(parse_payload(plain), plain)
    with database.read() as conn:
        rows = conn.execute(spark_event_chunks.select().order_by(spark_event_chunks.c.id)).all()
    assert [(r.codec, r.event_count) for r in rows] == [("payload+gzip", 2), ("payload+zstd", 1)]
    assert bytes(rows[0].body) == body and gzip.decompress(body).count(b"heartbeat") == 1
    assert export(store) == [b'{"Event":"A", "n":1}', b'{"n" : 2}', b'{"n":3}']


def test_an_app_that_falls_silent_is_ended_by_heartbeat_timeout_and_revived_if_it_speaks(database):
    store = EventStore(database)
    start = [(1000, ev("SparkListenerApplicationStart", **{"App Name": "x", "App ID": "a", "Timestamp": 1000}))]
    store_payload(store, start, 1, now=100.0)
    assert store.end_silent_apps(60, now=150.0) == 0  # heard from 50 s ago: still running
    assert store.end_silent_apps(60, now=161.0) == 1
    view = duration_view(store.app("job", "run-1"))
    assert view["state"] == "ended" and view["ended_by"] == "heartbeat timeout"
    assert view["end"] == 100_000 and view["duration_ms"] == 99_000
    assert store.end_silent_apps(60, now=500.0) == 0  # ended once
    # It was alive after all (Stoker could not hear it): its next payload clears the end.
    store_payload(store, [(2000, ev("SparkListenerJobStart", **{"Job ID": 1}))], 2, now=600.0)
    assert duration_view(store.app("job", "run-1"))["state"] == "running"
    store_payload(store, [(3000, ev("SparkListenerApplicationEnd", Timestamp=3000))], 3, now=601.0)
    view = duration_view(store.app("job", "run-1"))
    assert view["ended_by"] == "SparkListenerApplicationEnd" and view["duration_ms"] == 2000



def test_the_silent_app_duty_ends_apps_on_its_own(database):
    import time

    from stoker.events.silence import SilentAppReaper

    store = EventStore(database)
    store_payload(store, [(1000, ev("SparkListenerApplicationStart", **{"App Name": "x", "Timestamp": 1000}))], 1)
    duty = SilentAppReaper(store, silent_seconds=0.3, interval_seconds=0.05)
    duty.start()
    try:
        deadline = time.monotonic() + 10
        while duration_view(store.app("job", "run-1"))["state"] != "ended":
            assert time.monotonic() < deadline, "the duty never ended the silent app"
            time.sleep(0.05)
    finally:
        duty.stop()
    assert store.app("job", "run-1").ended_by == "heartbeat timeout"
