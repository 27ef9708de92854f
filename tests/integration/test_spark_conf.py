"""Spark settings on real Spark, in-process (issue 26): what Stoker calls a runtime setting is what
Spark can change on a running session, and in session mode each run's settings apply to its own
session only, never to a run beside it or after it. Through the API with the embedded worker, on
the test session's SparkSession (one per process)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN, make_services, wait_for_state
from stoker.core import spark_conf

pytestmark = pytest.mark.spark


def test_what_stoker_calls_runtime_is_what_spark_can_change(spark):
    """The warm session's refusals at submit follow `spark.conf.isModifiable`; and each typed
    key's sample value is one Spark's own parser takes."""
    for key in sorted(spark_conf.STATIC_SQL):
        assert not spark.conf.isModifiable(key), key
    session = spark.newSession()
    for key, kind in spark_conf.TYPES.items():
        if spark_conf.is_runtime(key):
            assert spark.conf.isModifiable(key), key
            sample = {"integer": "3", "number": "0.5", "sql size": "10m", "boolean": "true",
                      "duration": "30s", "time zone": "Europe/Madrid"}[kind]
            assert spark_conf.value_problem(key, sample) is None
            session.conf.set(key, sample)  # Spark's parser agrees
        else:
            assert not spark.conf.isModifiable(key), key
    for key in ("spark.executor.memory", "spark.dynamicAllocation.enabled", "spark.default.parallelism"):
        assert not spark.conf.isModifiable(key) and not spark_conf.is_runtime(key)


@pytest.fixture
def two_slot_api(spark, tmp_path):
    from stoker.app import Background, create_app

    services = make_services(tmp_path / "data", worker_concurrency=2, lease_seconds=10.0, heartbeat_seconds=1.0)
    app = create_app(services, background=Background(services, embedded_worker=True))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        yield client
    services.close()


ZONE = [["sql", "SELECT current_timezone() AS tz"], ["sleep", 2], ["collect"]]


def test_session_mode_runs_never_see_each_others_settings_concurrent_or_later(two_slot_api, spark):
    api = two_slot_api
    default_zone = spark.conf.get("spark.sql.session.timeZone")
    zones = {"a": "Asia/Tokyo", "b": "America/Lima"}
    assert default_zone not in zones.values()
    api.post("/api/v1/jobs", json={"name": "zones", "steps": ZONE, "max_concurrent_runs": 2})
    ids = {name: api.post("/api/v1/jobs/zones/runs", json={"conf": {
        "spark.sql.session.timeZone": zone, "spark.sql.shuffle.partitions": 3}}).json()["id"]
        for name, zone in zones.items()}
    done = {name: wait_for_state(api, run_id, timeout=120) for name, run_id in ids.items()}
    for name, run in done.items():
        assert run["state"] == "SUCCEEDED", run["error"]
        assert run["result"]["rows"] == [[zones[name]]]  # its own, not the other's
        effective = run["effective_conf"]
        assert effective["spark.sql.session.timeZone"] == {"value": zones[name], "source": "run"}
        assert effective["spark.sql.shuffle.partitions"] == {"value": "3", "source": "run"}
        assert effective["spark.ui.enabled"]["source"] == "default"
        assert "spark.stoker.token" not in effective  # Stoker's plumbing is not the run's settings
    a, b = (done[n]["attempts"][0] for n in ("a", "b"))
    assert a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"], "the runs overlapped"
    assert a["spark_app_id"] == b["spark_app_id"]  # one warm application

    later = api.post("/api/v1/jobs/zones/runs", json={}).json()
    later = wait_for_state(api, later["id"], timeout=120)
    assert later["state"] == "SUCCEEDED", later["error"]
    assert later["result"]["rows"] == [[default_zone]]
    assert later["conf"] == {} and "spark.sql.session.timeZone" not in later["effective_conf"]
    assert spark.conf.get("spark.sql.session.timeZone") == default_zone  # the warm session is untouched
