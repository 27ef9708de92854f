"""What the Spark application page shows, aggregated on the server: the jobs and stages, each
stage's task duration spread with skew marked, GC, spill and shuffle, executor cores busy vs
allocated; and the aggregate kept, with only new chunks folded in when more events arrive."""

from __future__ import annotations

import orjson
import pytest

import stoker.events  # noqa: F401  (registers the tables, so the fixture truncates them)
from harness import payload_bytes
from stoker.events.analysis import analyse
from stoker.events.payload import parse_payload
from stoker.events.store import EventStore
from stoker.store.spark_events import ChunkSnapshot


def ev(kind: str, **fields: object) -> bytes:
    return orjson.dumps({"Event": kind, **fields})


def task_end(stage: int, launch: int, finish: int, executor: str = "1", **metrics: object) -> tuple[int, bytes]:
    return finish, ev("SparkListenerTaskEnd", **{
        "Stage ID": stage, "Task End Reason": {"Reason": "Success"},
        "Task Info": {"Launch Time": launch, "Finish Time": finish, "Executor ID": executor},
        "Task Metrics": {"JVM GC Time": 5, "Memory Bytes Spilled": 100, "Disk Bytes Spilled": 20,
                         "Shuffle Read Metrics": {"Remote Bytes Read": 7, "Local Bytes Read": 3},
                         "Shuffle Write Metrics": {"Shuffle Bytes Written": 11}, **metrics}})


def app_events() -> list[tuple[int, bytes]]:
    """One 2-core executor for 10 s; job 0 = stage 0 with 4 tasks, one of them 4 s against 1 s."""
    stage0 = {"Stage ID": 0, "Stage Name": "count at x.py:1", "Number of Tasks": 4, "Submission Time": 1000}
    return [
        (0, ev("SparkListenerApplicationStart", **{"App Name": "a", "App ID": "app-1", "Timestamp": 0})),
        (0, ev("SparkListenerExecutorAdded", **{"Executor ID": "1", "Timestamp": 0,
                                               "Executor Info": {"Total Cores": 2}})),
        (1000, ev("SparkListenerJobStart", **{"Job ID": 0, "Submission Time": 1000, "Stage IDs": [0]})),
        (1000, ev("SparkListenerStageSubmitted", **{"Stage Info": stage0})),
        task_end(0, 1000, 2000), task_end(0, 1000, 2000), task_end(0, 2000, 3000), task_end(0, 2000, 6000),
        (6000, ev("SparkListenerStageCompleted", **{"Stage Info": {**stage0, "Completion Time": 6000}})),
        (6000, ev("SparkListenerJobEnd", **{"Job ID": 0, "Completion Time": 6000,
                                           "Job Result": {"Result": "JobSucceeded"}})),
        (10000, ev("SparkListenerExecutorRemoved", **{"Executor ID": "1", "Timestamp": 10000})),
        (10000, ev("SparkListenerApplicationEnd", Timestamp=10000)),
    ]


def pieces(events: list[tuple[int, bytes]]) -> list[bytes]:
    return [b"\n".join(line for _, line in events)]


def test_stages_jobs_and_cores_usage_from_task_events():
    view = analyse(pieces(app_events()), start_ms=0, end_ms=10000)
    assert view["jobs"] == [{"job_id": 0, "group": None, "start": 1000, "end": 6000, "stage_ids": [0],
                             "result": "JobSucceeded", "error": None}]
    (stage,) = view["stages"]
    assert (stage["name"], stage["tasks"], stage["submitted"], stage["completed"]) == ("count at x.py:1", 4, 1000, 6000)
    assert (stage["min_ms"], stage["median_ms"], stage["max_ms"]) == (1000, 1000, 4000)
    assert stage["skew"] is True  # 4 s ≥ 3 × the 1 s median, and 3 s longer
    assert (stage["gc_ms"], stage["spilled"], stage["shuffle_read"], stage["shuffle_write"]) == (20, 480, 40, 44)
    cores = view["cores"]
    # 7 core·s busy (1+1+1+4) of 2 cores × 10 s allocated: 65% idle.
    assert cores["busy_core_ms"] == 7000 and cores["allocated_core_ms"] == 20000
    assert cores["idle_share"] == pytest.approx(0.65)
    assert len(cores["t"]) == len(cores["busy"]) == len(cores["allocated"]) == 120
    assert max(cores["busy"]) == pytest.approx(2.0) and max(cores["allocated"]) == pytest.approx(2.0)


def test_no_skew_when_tasks_are_even():
    events = [task_end(0, 1, 1001), task_end(0, 1, 1101), task_end(0, 1, 1201)]
    (stage,) = analyse(pieces(events))["stages"]
    assert stage["skew"] is False and stage["max_ms"] == 1200


def test_the_order_events_arrive_in_does_not_change_the_view():
    """A later chunk may hold older events (ends before their starts): the aggregate is the same."""
    events = app_events()
    assert analyse(pieces(events[::-1]), start_ms=0, end_ms=10000) == analyse(pieces(events), start_ms=0,
                                                                              end_ms=10000)


def store_payload(store, events, counter):
    body = payload_bytes("job", "run-1", events, payload_counter=counter, compress=False)
    return store.ingest(parse_payload(body), body)


def count_chunk_loads(monkeypatch) -> list[int]:
    """The ids of the chunks whose events (bodies) are read from here on."""
    loads: list[int] = []
    load = ChunkSnapshot.load

    def counted(self, ids):
        loads.extend(ids)
        return load(self, ids)

    monkeypatch.setattr(ChunkSnapshot, "load", counted)
    return loads


def test_the_kept_aggregate_folds_in_only_new_chunks(database, monkeypatch):
    """An app viewed once keeps its aggregate: the payloads stored after are folded in from what
    ingest's own decode kept of them (no chunk is read again), and the view is the same as a full
    pass over every event."""
    store = EventStore(database)
    events = app_events()
    store_payload(store, events[:6], 1)
    loads = count_chunk_loads(monkeypatch)
    digests_read: list[int] = []
    fold = store._fold_stored

    def counted(aggregate, pk, after, skip):
        digests_read.append(after)
        return fold(aggregate, pk, after, skip)

    monkeypatch.setattr(store, "_fold_stored", counted)
    first = store.analysis(store.app("job", "run-1"))
    assert first["jobs"][0]["end"] is None and first["stages"][0]["max_ms"] == 1000
    assert store.analysis(store.app("job", "run-1")) is first  # nothing new: the same answer, nothing read
    assert digests_read == [0]
    store_payload(store, events[6:9], 2)
    store_payload(store, events[9:], 3)
    app = store.app("job", "run-1")
    latest = store.analysis(app)
    assert digests_read == [0]  # folded in at ingest: no chunk read again
    assert loads == []  # and the first view read the chunk's digest, not its events
    assert latest == analyse(pieces(events), start_ms=app.start_ms, end_ms=app.end_ms)
    assert latest["stages"][0]["skew"] is True and latest["jobs"][0]["result"] == "JobSucceeded"


def test_a_kept_aggregate_catches_up_on_chunks_it_missed(database):
    """Chunks stored while the aggregate was not kept (evicted, another process ingested them) are
    read at the next view, those folded at ingest skipped: every event counted once."""
    store = EventStore(database)
    events = app_events()
    store_payload(store, events[:4], 1)
    store.analysis(store.app("job", "run-1"))
    kept = store._analyses[store.app("job", "run-1").id]
    store_payload(store, events[4:8], 2)  # folded at ingest
    other = EventStore(database)  # another process's store: this one never sees the payload
    store_payload(other, events[8:], 3)
    app = store.app("job", "run-1")
    assert kept.event_count < app.event_count and kept.folded
    assert store.analysis(app) == analyse(pieces(events), start_ms=app.start_ms, end_ms=app.end_ms)


def test_ingest_folds_tasks_of_several_stages_and_their_failures_as_a_full_pass_does(database):
    store = EventStore(database)
    store_payload(store, app_events()[:2], 1)
    store.analysis(store.app("job", "run-1"))  # viewed: kept from now on
    failed = ev("SparkListenerTaskEnd", **{
        "Stage ID": 3, "Task End Reason": {"Reason": "ExceptionFailure", "Class Name": "java.lang.OutOfMemoryError",
                                           "Description": "Java heap space"},
        "Task Info": {"Launch Time": 2000, "Finish Time": 2500, "Executor ID": "4"},
        "Task Metrics": {"JVM GC Time": 7, "Input Metrics": {"Bytes Read": 10, "Records Read": 2}}})
    later = [task_end(0, 1000, 2000), (2500, failed), task_end(3, 2000, 2600), task_end(0, 1000, 3000),
             (2700, ev("SparkListenerTaskEnd", **{"Stage ID": 3, "Task End Reason": {"Reason": "TaskKilled"},
                                                  "Task Info": {"Launch Time": 2000, "Finish Time": 2700}}))]
    store_payload(store, later, 2)
    app = store.app("job", "run-1")
    folded = store.analysis(app)
    assert folded == analyse(pieces(app_events()[:2] + later), start_ms=app.start_ms, end_ms=app.end_ms)
    stage3 = next(s for s in folded["stages"] if s["stage_id"] == 3)
    assert (stage3["done"], stage3["failed_tasks"], stage3["killed_tasks"], stage3["input_records"]) == (1, 1, 1, 2)
    assert stage3["failures"] == [{"reason": "ExceptionFailure", "executor": "4",
                                   "class_name": "java.lang.OutOfMemoryError", "message": "Java heap space"}]


def several_stages_with_failures() -> list[tuple[int, bytes]]:
    """Two jobs, one in a job group, stages 0 and 3 with tasks done, failed (their reasons) and
    killed, an executor lost: every counter of a run's view."""
    stage3 = {"Stage ID": 3, "Stage Name": "save at y.py:9", "Number of Tasks": 3, "Submission Time": 1900}
    failed = ev("SparkListenerTaskEnd", **{
        "Stage ID": 3, "Task End Reason": {"Reason": "ExceptionFailure", "Class Name": "java.lang.OutOfMemoryError",
                                           "Description": "Java heap space"},
        "Task Info": {"Launch Time": 2000, "Finish Time": 2500, "Executor ID": "4"},
        "Task Metrics": {"JVM GC Time": 7, "Input Metrics": {"Bytes Read": 10, "Records Read": 2}}})
    return [
        *app_events()[:9],
        (1900, ev("SparkListenerJobStart", **{"Job ID": 1, "Submission Time": 1900, "Stage IDs": [3],
                                              "Stage Infos": [stage3], "Properties": {"spark.jobGroup.id": "g-1"}})),
        (1900, ev("SparkListenerStageSubmitted", **{"Stage Info": stage3})),
        (2500, failed), task_end(3, 2000, 2600, **{"Input Metrics": {"Bytes Read": 30, "Records Read": 6}}),
        (2700, ev("SparkListenerTaskEnd", **{"Stage ID": 3, "Task End Reason": {"Reason": "TaskKilled"},
                                             "Task Info": {"Launch Time": 2000, "Finish Time": 2700}})),
        (2800, ev("SparkListenerExecutorRemoved", **{"Executor ID": "4", "Timestamp": 2800,
                                                     "Removed Reason": "Container killed by YARN"})),
        *app_events()[9:],
    ]


def store_in_payloads(store, events, size):
    for counter, start in enumerate(range(0, len(events), size), start=1):
        store_payload(store, events[start:start + size], counter)


@pytest.mark.parametrize("group", [None, "g-1"])
def test_the_first_view_after_a_restart_reads_the_digests_and_equals_a_full_pass(database, monkeypatch, group):
    """A new process (a restart) views an app whose events it never saw: it reads each chunk's
    digest, stored at ingest, not its events, and shows the same numbers as a pass over the events
    (the whole app and a run's job group, counters only too)."""
    events = several_stages_with_failures()
    store_in_payloads(EventStore(database), events, 4)
    loads = count_chunk_loads(monkeypatch)
    restarted = EventStore(database)
    app = restarted.app("job", "run-1")
    view = restarted.analysis(app, group=group)
    assert loads == []
    assert view == analyse(pieces(events), start_ms=app.start_ms, end_ms=app.end_ms, group=group)
    stage3 = next(s for s in view["stages"] if s["stage_id"] == 3)
    assert (stage3["done"], stage3["failed_tasks"], stage3["killed_tasks"], stage3["input_records"]) == (1, 1, 1, 8)
    assert stage3["failures"][0]["class_name"] == "java.lang.OutOfMemoryError"
    assert view["executors_lost"] == [{"executor": "4", "at": 2800, "reason": "Container killed by YARN"}]
    counts = EventStore(database).analysis(app, group=group, counts_only=True)
    assert counts == {**view, "cores": None, "stages": [
        {**s, "min_ms": None, "median_ms": None, "max_ms": None, "skew": False} for s in view["stages"]]}


def test_chunks_stored_before_digests_are_read_from_their_events(database, monkeypatch):
    """Chunks stored before migration 0019 have no digest (and a digest of another version, or one
    that cannot be read, is not trusted): those are read from their events, the rest from their
    digests, and the view is the same."""
    import sqlalchemy as sa

    from stoker.events import digest
    from stoker.events.store import compress_body
    from stoker.store.tables import spark_event_chunks

    events = several_stages_with_failures()
    store_in_payloads(EventStore(database), events, 3)
    c = spark_event_chunks.c
    future = compress_body(digest._encoder.encode((digest.VERSION + 1, b"", [], [])))
    with database.write() as conn:
        ids = [row.id for row in conn.execute(sa.select(c.id).order_by(c.id))]
        assert len(ids) == 6
        for chunk_id, value in ((ids[0], None), (ids[1], None), (ids[2], b"not zstd"),
                                (ids[3], compress_body(b"\xc1")), (ids[5], future)):
            conn.execute(sa.update(spark_event_chunks).where(c.id == chunk_id).values(digest=value))
    loads = count_chunk_loads(monkeypatch)
    restarted = EventStore(database)
    app = restarted.app("job", "run-1")
    assert restarted.analysis(app) == analyse(pieces(events), start_ms=app.start_ms, end_ms=app.end_ms)
    assert sorted(loads) == [*ids[:4], ids[5]]  # ids[4] from its digest


def test_a_redacted_chunk_has_no_digest_and_its_view_shows_no_secret(database):
    """A payload holding a secret's value is stored redacted; its digest, taken from the events as
    received, would keep the value: it has none, and the view reads the redacted events."""
    import sqlalchemy as sa

    from stoker.core.secret_refs import Redactor
    from stoker.store.tables import spark_event_chunks

    secret = "hunter2-very-secret-value"
    store = EventStore(database, redaction=lambda: Redactor([secret]))
    store_payload(store, app_events()[:2], 1)
    store.analysis(store.app("job", "run-1"))  # kept: what ingest folds in must not hold it either
    failing = [(3000, ev("SparkListenerJobStart", **{"Job ID": 5, "Submission Time": 3000, "Stage IDs": []})),
               (3100, ev("SparkListenerJobEnd", **{"Job ID": 5, "Completion Time": 3100, "Job Result": {
                   "Result": "JobFailed", "Exception": {"Message": f"bad password {secret}"}}}))]
    store_payload(store, failing, 2)
    store_payload(store, app_events()[2:4], 3)
    with database.read() as conn:
        digests = [row.digest for row in conn.execute(
            sa.select(spark_event_chunks.c.digest).order_by(spark_event_chunks.c.id))]
    assert [d is None for d in digests] == [False, True, False]
    for viewer in (store, EventStore(database)):  # kept, and after a restart
        (job,) = [j for j in viewer.analysis(viewer.app("job", "run-1"))["jobs"] if j["job_id"] == 5]
        assert job["error"] == "bad password [REDACTED]"
