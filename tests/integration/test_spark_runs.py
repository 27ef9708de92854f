"""Runs on real Spark through the API: session mode (shared SparkSession), cancel of a running
Spark job group, per-run s3a settings on the attempt's own session."""

from __future__ import annotations

import time

import pytest

from conftest import wait_for_state

pytestmark = pytest.mark.spark

PIPELINE = [["read_csv", "people.csv", {"header": True, "inferSchema": True}],
            ["filter", "age > 30"],
            ["group_by", ["city"], {"n": "count(*)", "avg_age": "avg(age)"}],
            ["sort", "city"], ["collect"]]


@pytest.fixture
def spark_api(spark, api, services):
    """The API with the embedded worker; its SparkSession is the test session's (one per process)."""
    (services.settings.storage_root / "people.csv").write_text(
        "name,age,city\nana,34,Lisbon\nbo,28,Oslo\ncy,41,Lisbon\ndee,52,Oslo\n")
    return api


def test_session_mode_pipeline_result_and_attribution(spark_api, spark):
    run = spark_api.post("/api/v1/runs", json={"steps": PIPELINE}).json()
    done = wait_for_state(spark_api, run["id"], timeout=120)
    assert done["state"] == "SUCCEEDED", done["error"]
    result = done["result"]
    assert [c["name"] for c in result["columns"]] == ["city", "n", "avg_age"]
    assert result["rows"] == [["Lisbon", 2, 37.5], ["Oslo", 1, 52.0]]
    attempt = done["attempts"][0]
    assert attempt["executor"] == "spark_session"
    assert attempt["spark_app_id"] == spark.sparkContext.applicationId
    assert attempt["spark_job_group"] == f"stoker-{run['id']}-1"
    log = spark_api.get(f"/api/v1/runs/{run['id']}/log").text
    assert "job group" in log and "succeeded" in log


def test_spark_error_is_short_and_log_is_full_and_a_typo_is_not_retried(spark_api):
    api = spark_api
    api.post("/api/v1/jobs", json={"name": "typo", "max_attempts": 3, "steps": [
        ["read_csv", "people.csv", {"header": True}], ["filter", "agex > 1"], ["collect"]]})
    run = api.post("/api/v1/jobs/typo/runs", json={}).json()
    done = wait_for_state(api, run["id"], timeout=120)
    assert done["state"] == "FAILED"
    assert len(done["attempts"]) == 1  # an unknown column fails the same way every time
    assert "agex" in done["error"] and "\tat org.apache" not in done["error"]
    assert len(done["error"].splitlines()) <= 5
    assert "Traceback" in api.get(f"/api/v1/runs/{run['id']}/log").text


def test_a_missing_input_keeps_its_retries(spark_api):
    """A file that is not there yet may arrive: PATH_NOT_FOUND is retried, attempts permitting."""
    api = spark_api
    api.post("/api/v1/jobs", json={"name": "early", "max_attempts": 2, "backoff": "constant",
                                   "backoff_seconds": 0.1,
                                   "steps": [["read_csv", "not-yet.csv"], ["count"]]})
    run = api.post("/api/v1/jobs/early/runs", json={}).json()
    done = wait_for_state(api, run["id"], timeout=120)
    assert done["state"] == "FAILED" and len(done["attempts"]) == 2
    assert "not-yet.csv" in done["error"]


def test_cancel_running_spark_job(spark_api, spark):
    api = spark_api
    endless = [["range", 10**13], ["filter", "id % 7 = 3"], ["count"]]
    run = api.post("/api/v1/runs", json={"steps": endless}).json()
    wait_for_state(api, run["id"], states=("RUNNING",), timeout=60)
    group = f"stoker-{run['id']}-1"
    tracker = spark.sparkContext.statusTracker()
    deadline = time.monotonic() + 60
    while not tracker.getJobIdsForGroup(group):
        assert time.monotonic() < deadline, "the Spark job never started"
        time.sleep(0.1)
    assert api.post(f"/api/v1/runs/{run['id']}/cancel").status_code == 202
    done = wait_for_state(api, run["id"], timeout=30)
    assert done["state"] == "CANCELLED"
    assert done["attempts"][0]["outcome"] == "cancelled"
    deadline = time.monotonic() + 30
    while any(tracker.getJobInfo(j).status == "RUNNING" for j in tracker.getJobIdsForGroup(group)):
        assert time.monotonic() < deadline, "the Spark job group kept running after cancel"
        time.sleep(0.2)


def test_s3_credentials_reach_only_the_attempts_session(spark, services):
    """The executor sets s3a keys on the attempt's own newSession(), not on the shared session."""
    from stoker.catalog import Catalog, FunctionSpec, builtin_functions, function
    from stoker.core.attempts import Claimed
    from stoker.executors.attempt_log import AttemptLog
    from stoker.executors.base import Execution
    from stoker.executors.control import AttemptControl
    from stoker.executors.session_mode import SparkSessionExecutor

    @function(kind="action", frame="none", needs_spark=True)
    def s3_probe(sc, frame) -> dict:
        """Report the s3a key the attempt's session sees."""
        return {"type": "probe", "key": sc.spark.conf.get("fs.s3a.access.key", None)}

    assert isinstance(s3_probe, FunctionSpec)
    catalog = Catalog([*builtin_functions(), s3_probe])
    executor = SparkSessionExecutor(services.settings, catalog, services.roots)
    executor.force_direct = True  # as if hadoop-aws were on the classpath (it is not here: docs/s3.md)
    claimed = Claimed(attempt_id="a", run_id="r", number=1, job_id="j", job_name="j",
                      mode="session", lane="spark", steps=[["s3_probe"]], params={}, options={},
                      secrets=None, timeout_seconds=None, lease_expires_at=0.0)
    secrets = {"s3": {"aws_access_key_id": "AKIA-TEST", "aws_secret_access_key": "SECRET-TEST"}}
    result = executor.execute(Execution(claimed, secrets, AttemptControl(), AttemptLog("a")))
    assert result == {"type": "probe", "key": "AKIA-TEST"}
    assert spark.conf.get("fs.s3a.access.key", None) is None  # the shared session never saw it
    executor.force_direct = False  # the staged way: Spark never sees the keys at all
    result = executor.execute(Execution(claimed, secrets, AttemptControl(), AttemptLog("b")))
    assert result == {"type": "probe", "key": None}
