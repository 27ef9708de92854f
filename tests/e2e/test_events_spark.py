"""A real PySpark application streams its events to Stoker through the listener, next to Spark's own
event log: Stoker returns the same events in the same order, and the same duration as the History
Server reports for the application."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import httpx
import orjson
import pytest

from harness import TOKEN, HistoryServer, UvicornServer
from stoker.events import listener_conf, listener_jar_path
from stoker.events.eventlog import iter_lines

pytestmark = [pytest.mark.e2e, pytest.mark.spark]

SECRET = "SUPERSECRET-s3-key-123"

APP = textwrap.dedent("""
    import json, os, sys
    from pyspark.sql import SparkSession
    conf = json.loads(sys.argv[1])
    builder = SparkSession.builder.master("local[1]").appName("events-e2e")
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    df = spark.range(0, 50000, numPartitions=6)
    df.groupBy((df.id % 7).alias("k")).count().collect()
    # While the app runs, its events are already in Stoker (within the flush interval, not at the
    # next heartbeat, which this test sets ten minutes away).
    import time, urllib.request
    url, token = sys.argv[2], sys.argv[3]
    app_id = spark.sparkContext.applicationId
    request = urllib.request.Request(f"{url}/api/v1/spark/jobs/e2e-job/runs/{app_id}/events",
                                     headers={"Authorization": "Bearer " + token})
    deadline, live = time.monotonic() + 30, "missing"
    while time.monotonic() < deadline:
        try:
            if b"SparkListenerJobEnd" in urllib.request.urlopen(request, timeout=10).read():
                live = "ok"
                break
        except Exception:
            pass
        time.sleep(0.2)
    print("LIVE=" + live, flush=True)
    spark.sparkContext.setLocalProperty("spark.job.description", "second")
    df.selectExpr("id * 2 AS x").repartition(3).count()
    print("APP_ID=" + spark.sparkContext.applicationId, flush=True)
    spark.stop()
""")


@pytest.fixture
def stoker(tmp_path):
    (tmp_path / "data").mkdir()
    server = UvicornServer(tmp_path / "data").start()
    yield server
    server.stop()


def test_listener_stream_matches_event_log_and_history_server(tmp_path, stoker):
    if not listener_jar_path().exists():
        pytest.fail("listener jar missing: run scripts/build_listener.sh")
    log_dir = tmp_path / "eventlog"
    log_dir.mkdir()
    # A replica that is down first (nothing listens on the port): the listener fails over to the
    # next and the events still arrive live, all of them, in order.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{probe.getsockname()[1]}"
    conf = listener_conf(f"{down}/, {stoker.url}", TOKEN, "e2e-job")
    assert conf["spark.stoker.url"] == f"{down},{stoker.url}"
    conf.update({
        "spark.eventLog.enabled": "true", "spark.eventLog.dir": f"file:{log_dir}",
        "spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "3",
        "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
        "spark.hadoop.fs.s3a.secret.key": SECRET,
        "spark.stoker.flushIntervalMs": "200",
        "spark.stoker.heartbeatIntervalMs": "600000",
    })
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run([sys.executable, "-c", APP, json.dumps(conf), stoker.url, TOKEN], env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "LIVE=ok" in done.stdout, "the first job's events were not in Stoker while the app ran"
    app_id = done.stdout.split("APP_ID=")[1].split()[0]

    headers = {"Authorization": f"Bearer {TOKEN}"}
    base = f"{stoker.url}/api/v1/spark/jobs/e2e-job/runs/{app_id}"
    response = httpx.get(base + "/events", headers=headers, timeout=30)
    assert response.status_code == 200
    stoker_events = [orjson.loads(line) for line in response.content.splitlines()]
    # Spark 4 writes a rolling directory (eventlog_v2_<app id>) by default: read it as import does.
    (log_path,) = log_dir.iterdir()
    log_events = [orjson.loads(line) for line in iter_lines(log_path)]

    # Same events, same order (both are the listener bus's posting order; generated_at ties keep it).
    assert [e["Event"] for e in stoker_events] == [e["Event"] for e in log_events]
    # Spark posts a task's TaskInfo object, not a copy, and fills in its finish time when the task
    # ends: a TaskStart serialised a moment later by one listener than by the other may carry it.
    # Compare the events with that one mutable field of the not-yet-ended tasks set aside.
    assert [_settled(e) for e in stoker_events] == [_settled(e) for e in log_events]
    assert SECRET not in response.text and TOKEN not in response.text  # redacted like the event log

    duration = httpx.get(base + "/duration", headers=headers).json()
    summary = httpx.get(base + "/summary", headers=headers).json()
    history = HistoryServer(log_dir).start()
    try:
        attempt = history.application(app_id)["attempts"][0]
    finally:
        history.stop()
    assert duration["state"] == "ended"
    assert duration["duration_ms"] == attempt["duration"]
    assert duration["start"] == attempt["startTimeEpoch"] and duration["end"] == attempt["endTimeEpoch"]

    import pyspark

    task_ends = [e for e in log_events if e["Event"] == "SparkListenerTaskEnd"]
    assert summary["app_id"] == app_id and summary["app_name"] == "events-e2e"
    assert summary["spark_version"] == pyspark.__version__
    assert summary["tasks"] == len(task_ends) > 0
    assert summary["jobs"] == sum(e["Event"] == "SparkListenerJobStart" for e in log_events)
    assert summary["task_time_ms"] == sum(e["Task Metrics"]["Executor Run Time"] for e in task_ends)
    assert summary["shuffle_write_bytes"] > 0 and summary["events"] == len(log_events)


def _settled(event: dict) -> dict:
    if event.get("Event") in ("SparkListenerTaskStart", "SparkListenerTaskGettingResult") and "Task Info" in event:
        unsettled = ("Finish Time", "Getting Result Time", "Finished")
        info = {k: v for k, v in event["Task Info"].items() if k not in unsettled}
        return {**event, "Task Info": info}
    return event
