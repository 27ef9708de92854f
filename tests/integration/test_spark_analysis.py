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
    assert view["jobs"] == [{"job_id": 0, "start": 1000, "end": 6000, "stage_ids": [0], "result": "JobSucceeded"}]
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


def test_the_kept_aggregate_folds_in_only_new_chunks(database, monkeypatch):
    store = EventStore(database)
    events = app_events()
    store_payload(store, events[:6], 1)
    reads: list[int] = []
    stream = store.stream_events

    def counted(pk, after=0, read=None):
        reads.append(after)
        return stream(pk, after, read)

    monkeypatch.setattr(store, "stream_events", counted)
    first = store.analysis(store.app("job", "run-1"))
    assert first["jobs"][0]["end"] is None and first["stages"][0]["max_ms"] == 1000
    assert store.analysis(store.app("job", "run-1")) is first  # nothing new: the same answer, nothing read
    assert reads == [0]
    store_payload(store, events[6:9], 2)
    store_payload(store, events[9:], 3)
    app = store.app("job", "run-1")
    latest = store.analysis(app)
    assert len(reads) == 2 and reads[1] > 0  # only the chunks stored after the first view were read
    assert latest == analyse(pieces(events), start_ms=app.start_ms, end_ms=app.end_ms)
    assert latest["stages"][0]["skew"] is True and latest["jobs"][0]["result"] == "JobSucceeded"
