"""S3 for real: runs read and write moto's S3 server (IAM enforced) with their own keys, through
the API and real Spark, the staged way (this machine has no hadoop-aws, so the direct way is
chosen only when the S3A class loads; tests/unit/test_s3.py covers that choice)."""

from __future__ import annotations

import threading

import pytest

from conftest import ADMIN_TOKEN, make_services, wait_for_state

pytestmark = pytest.mark.spark

PEOPLE = "name,age,city\nana,34,Lisbon\nbo,28,Oslo\ncy,41,Lisbon\ndee,52,Oslo\n"
# The example: read CSV from S3, transform, write Parquet to S3.
SPEEDY = [["read_csv", "s3://alice-bucket/in/people.csv", {"header": True, "inferSchema": True}],
          ["filter", "age > 30"],
          ["write_parquet", "s3://alice-bucket/out/adults/"]]


@pytest.fixture
def s3(moto_s3):
    for bucket in ("alice-bucket", "bob-bucket"):
        moto_s3.empty(bucket)
        moto_s3.client().put_object(Bucket=bucket, Key="in/people.csv", Body=PEOPLE.encode())
    return moto_s3


@pytest.fixture
def s3_api(spark, s3, tmp_path):
    """The API with an embedded worker of two threads (two runs at once on one warm session)."""
    from fastapi.testclient import TestClient

    from stoker.app import Background, create_app

    services = make_services(tmp_path / "data", lease_seconds=10.0, heartbeat_seconds=1.0,
                             reap_interval_seconds=0.5, worker_concurrency=2)
    app = create_app(services, background=Background(services, embedded_worker=True))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        client.services = services
        yield client
    services.close()


def run(api, steps, s3_options, **job):
    """Run steps ad hoc, or as a run of a job made with these policy fields (name, max_attempts...)."""
    if job:
        api.post("/api/v1/jobs", json={"steps": steps, **job}).raise_for_status()
        response = api.post(f"/api/v1/jobs/{job['name']}/runs", json={"options": {"s3": s3_options}})
    else:
        response = api.post("/api/v1/runs", json={"steps": steps, "options": {"s3": s3_options}})
    assert response.status_code == 201, response.text
    return wait_for_state(api, response.json()["id"], timeout=120)


def test_speedy_example_reads_csv_writes_parquet_and_reads_it_back(s3_api, s3, spark):
    submitted = s3_api.post("/jobs/submit", json={"options": {"s3": s3.options("alice")}, "steps": SPEEDY})
    assert submitted.status_code == 200, submitted.text
    done = wait_for_state(s3_api, submitted.json()["job_id"], timeout=120)
    assert done["state"] == "SUCCEEDED", done["error"]
    assert done["result"] == {"type": "write", "format": "parquet", "path": "s3://alice-bucket/out/adults/",
                              "rows": 3}
    written = s3.keys_under("alice-bucket", "out/")
    assert "out/adults/_SUCCESS" in written
    assert any(k.startswith("out/adults/part-") and k.endswith(".parquet") for k in written)
    assert not any("_stoker_temporary" in k or k.endswith(".crc") for k in written)
    log = s3_api.get(f"/api/v1/runs/{done['id']}/log").text
    assert "S3: staged way" in log and "S3 staged: wrote s3://alice-bucket/out/adults/" in log
    assert not list((s3_api.services.settings.data_dir / "staging").iterdir())  # removed at the end

    # Read it back, through s3a:// this time.
    back = run(s3_api, [["read_parquet", "s3a://alice-bucket/out/adults"], ["sort", "name"], ["collect"]],
               s3.options("alice"))
    assert back["state"] == "SUCCEEDED", back["error"]
    assert [row[0] for row in back["result"]["rows"]] == ["ana", "cy", "dee"]


def test_join_and_union_read_s3_by_extension(s3_api, s3):
    steps = [["read_csv", "s3a://alice-bucket/in/people.csv", {"header": True, "inferSchema": True}],
             ["union", "s3://alice-bucket/in/people.csv"], ["count"]]
    done = run(s3_api, steps, s3.options("alice"))
    assert done["state"] == "SUCCEEDED", done["error"]
    assert done["result"]["count"] == 8


def test_wrong_keys_fail_once_with_access_denied_naming_the_bucket(s3_api, s3):
    steps = [["read_csv", "s3://alice-bucket/in/people.csv"], ["count"]]
    done = run(s3_api, steps, s3.options("bob"), name="bobs-try", max_attempts=3)
    assert done["state"] == "FAILED"
    assert len(done["attempts"]) == 1  # a retry cannot fix it
    assert "access denied" in done["error"] and "alice-bucket" in done["error"]

    unknown = {**s3.options("alice"), "aws_access_key_id": "AKIAUNKNOWN0000000000"}
    done = run(s3_api, steps, unknown)
    assert done["state"] == "FAILED" and len(done["attempts"]) == 1
    assert "access denied (the access key is not known)" in done["error"] and "alice-bucket" in done["error"]


def test_missing_key_and_bucket_are_permanent_and_named(s3_api, s3):
    missing = run(s3_api, [["read_csv", "s3://alice-bucket/in/nobody.csv"], ["count"]], s3.options("alice"),
                  name="missing", max_attempts=3)
    assert missing["state"] == "FAILED" and len(missing["attempts"]) == 1
    assert "no such key" in missing["error"] and "s3://alice-bucket/in/nobody.csv" in missing["error"]
    nobucket = run(s3_api, [["read_csv", "s3://no-such-bucket-zz/x.csv"], ["count"]], s3.options("admin"))
    assert nobucket["state"] == "FAILED" and len(nobucket["attempts"]) == 1
    assert "no such bucket" in nobucket["error"] and "no-such-bucket-zz" in nobucket["error"]


def test_bad_endpoint_is_permanent(s3_api, s3):
    from moto_s3 import _free_port

    options = {**s3.options("alice"), "endpoint_url": f"http://127.0.0.1:{_free_port()}"}
    done = run(s3_api, [["read_csv", "s3://alice-bucket/in/people.csv"], ["count"]], options,
               name="nowhere", max_attempts=3)
    assert done["state"] == "FAILED" and len(done["attempts"]) == 1
    assert "endpoint unreachable" in done["error"] and "alice-bucket" in done["error"]


def failing_write(s3) -> list:
    """A pipeline whose write fails half-way through its rows (a bad value read FAILFAST)."""
    s3.client().put_object(Bucket="alice-bucket", Key="in/bad.csv",
                           Body=(PEOPLE + "eve,not-a-number,Rome\n").encode())
    return [["read_csv", "s3://alice-bucket/in/bad.csv",
             {"header": True, "schema": "name STRING, age INT, city STRING", "mode": "FAILFAST"}],
            ["write_parquet", "s3://alice-bucket/out/bad/"]]


def test_a_failed_write_leaves_nothing_under_the_target_prefix(s3_api, s3):
    done = run(s3_api, failing_write(s3), s3.options("alice"))
    assert done["state"] == "FAILED"
    assert s3.keys_under("alice-bucket", "out/") == []


def test_write_modes_on_s3(s3_api, s3):
    write = [["read_csv", "s3://alice-bucket/in/people.csv", {"header": True}],
             ["write_csv", "s3://alice-bucket/out/people", "overwrite"]]
    assert run(s3_api, write, s3.options("alice"))["state"] == "SUCCEEDED"
    first = s3.keys_under("alice-bucket", "out/people/")
    assert run(s3_api, write, s3.options("alice"))["state"] == "SUCCEEDED"
    second = s3.keys_under("alice-bucket", "out/people/")
    assert len(second) == len(first) and second != first  # overwritten, not added to
    again = run(s3_api, [write[0], ["write_csv", "s3://alice-bucket/out/people"]], s3.options("alice"))
    assert again["state"] == "FAILED" and len(again["attempts"]) == 1
    assert "already exists" in again["error"] and "s3://alice-bucket/out/people" in again["error"]


def test_two_runs_with_different_keys_at_once_each_see_only_their_bucket(s3_api, s3):
    steps = [["read_csv", "s3://{{bucket}}/in/people.csv", {"header": True, "inferSchema": True}],
             ["sleep", 1], ["filter", "age > 30"], ["write_parquet", "s3://{{bucket}}/out/adults/"]]
    s3_api.post("/api/v1/jobs", json={"name": "adults", "steps": steps, "max_concurrent_runs": 4,
                                      "max_attempts": 1}).raise_for_status()
    # The two that succeed go first: each holds one of the two worker threads for over a second.
    cases = {("alice", "alice-bucket"): "SUCCEEDED", ("bob", "bob-bucket"): "SUCCEEDED",
             ("alice", "bob-bucket"): "FAILED", ("bob", "alice-bucket"): "FAILED"}
    ids = {}
    for user, bucket in cases:
        response = s3_api.post("/api/v1/jobs/adults/runs",
                               json={"params": {"bucket": bucket}, "options": {"s3": s3.options(user)}})
        assert response.status_code == 201, response.text
        ids[user, bucket] = response.json()["id"]
    done = {case: wait_for_state(s3_api, run_id, timeout=180) for case, run_id in ids.items()}
    for case, state in cases.items():
        assert done[case]["state"] == state, (case, done[case]["error"])
    for user, bucket in (("alice", "bob-bucket"), ("bob", "alice-bucket")):
        assert "access denied" in done[user, bucket]["error"] and bucket in done[user, bucket]["error"]
    # One warm session ran both successful runs, at the same time.
    alice, bob = done["alice", "alice-bucket"]["attempts"][0], done["bob", "bob-bucket"]["attempts"][0]
    assert alice["spark_app_id"] == bob["spark_app_id"] is not None
    assert alice["started_at"] < bob["finished_at"] and bob["started_at"] < alice["finished_at"]
    assert "out/adults/_SUCCESS" in s3.keys_under("bob-bucket", "out/")


def test_submit_time_checks(s3_api, s3):
    no_keys = s3_api.post("/api/v1/runs", json={"steps": SPEEDY})
    assert no_keys.status_code == 422
    assert "no S3 credentials" in no_keys.text and "s3://alice-bucket/in/people.csv" in no_keys.text
    half = s3_api.post("/api/v1/runs", json={"steps": SPEEDY, "options": {"s3": {"aws_access_key_id": "A"}}})
    assert half.status_code == 422 and "aws_secret_access_key" in half.text
    bad_bucket = s3_api.post("/api/v1/runs", json={"steps": [["read_csv", "s3://Bad_Bucket/x.csv"], ["count"]],
                                                   "options": {"s3": s3.options("alice")}})
    assert bad_bucket.status_code == 400 and "Bad_Bucket" in bad_bucket.text
    assert s3_api.get("/api/v1/runs").json()["runs"] == []  # nothing was queued


def test_server_credentials_only_when_the_operator_allows(spark, s3, tmp_path, monkeypatch):
    """STOKER_S3_ALLOW_SERVER_CREDENTIALS: runs without keys use the server's AWS environment."""
    from fastapi.testclient import TestClient

    from stoker.app import Background, create_app

    admin = s3.keys["admin"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", admin.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", admin.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    services = make_services(tmp_path / "data", s3_allow_server_credentials=True,
                             s3_endpoint_url=s3.endpoint_url)
    app = create_app(services, background=Background(services, embedded_worker=True))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as api:
        response = api.post("/api/v1/runs", json={"steps": [["read_csv", "s3://bob-bucket/in/people.csv"],
                                                            ["count"]]})
        assert response.status_code == 201, response.text
        done = wait_for_state(api, response.json()["id"], timeout=120)
    services.close()
    assert done["state"] == "SUCCEEDED", done["error"]
    assert done["result"]["count"] == 5  # the header is a row without {"header": true}


def test_staging_limit_is_a_clear_permanent_error(spark, s3, tmp_path):
    from fastapi.testclient import TestClient

    from stoker.app import Background, create_app

    services = make_services(tmp_path / "data", s3_max_run_bytes=10)
    app = create_app(services, background=Background(services, embedded_worker=True))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as api:
        done = run(api, [["read_csv", "s3://alice-bucket/in/people.csv"], ["count"]], s3.options("alice"),
                   name="big", max_attempts=3)
    services.close()
    assert done["state"] == "FAILED" and len(done["attempts"]) == 1
    assert "over the limit" in done["error"] and "STOKER_S3_MAX_RUN_BYTES" in done["error"]


def test_the_keys_appear_nowhere(s3_api, s3):
    """A unique secret key, planted in a run, is found in no response, log, database file or event."""
    options = s3.options("alice")
    secret = options["aws_secret_access_key"]
    seen: list[str] = []
    lock = threading.Lock()

    def get(path):
        response = s3_api.get(path)
        with lock:
            seen.append(response.text)
        return response

    submitted = s3_api.post("/api/v1/runs", json={"steps": SPEEDY, "options": {"s3": options}})
    seen.append(submitted.text)
    run_id = submitted.json()["id"]
    done = wait_for_state(s3_api, run_id, timeout=120)
    assert done["state"] == "SUCCEEDED", done["error"]
    failed = run(s3_api, [["read_csv", "s3://bob-bucket/in/people.csv"], ["count"]], options)
    assert failed["state"] == "FAILED"
    for path in (f"/api/v1/runs/{run_id}", f"/api/v1/runs/{run_id}/log", f"/api/v1/runs/{failed['id']}",
                 f"/api/v1/runs/{failed['id']}/log", "/api/v1/runs", "/api/v1/runs?state=FAILED",
                 "/api/v1/dead-letters", "/api/v1/spark/jobs", "/metrics"):
        get(path)
    for text in seen:
        assert secret not in text
    files = [p for p in s3_api.services.settings.data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files)
    for path in files:
        assert secret.encode() not in path.read_bytes(), path


@pytest.mark.e2e
def test_submit_mode_stages_too(s3_api, s3):
    """spark-submit's driver has no S3 connector either: the worker stages around it."""
    done = run(s3_api, SPEEDY, s3.options("alice"), name="submitted", mode="submit")
    assert done["state"] == "SUCCEEDED", done["error"]
    assert done["attempts"][0]["executor"] == "spark_submit"
    assert done["result"]["rows"] == 3 and done["result"]["path"] == "s3://alice-bucket/out/adults/"
    assert "out/adults/_SUCCESS" in s3.keys_under("alice-bucket", "out/")


def test_direct_way_hands_s3a_to_spark_itself(spark, s3, services):
    """With S3A on the classpath, Spark reads s3a:// itself. This machine has no hadoop-aws, so the
    choice is forced here and Spark's own ClassNotFoundException for S3AFileSystem proves that
    Spark, not the staging, was asked to read the bucket."""
    from stoker.core.attempts import Claimed
    from stoker.executors.attempt_log import AttemptLog
    from stoker.executors.base import Execution, s3a_on_classpath
    from stoker.executors.control import AttemptControl
    from stoker.executors.session_mode import SparkSessionExecutor

    assert s3a_on_classpath(spark) is False  # detected: not here
    assert s3a_on_classpath(spark, "org.apache.hadoop.fs.LocalFileSystem") is True  # the probe works
    executor = SparkSessionExecutor(services.settings, services.catalog, services.roots)
    try:
        assert executor.direct_s3(executor.session()) is False
    finally:
        executor.release()
    executor.force_direct = True
    claimed = Claimed(attempt_id="d", run_id="r", number=1, job_id="j", job_name="j",
                      mode="session", lane="spark", steps=[["read_csv", SPEEDY[0][1]], ["count"]],
                      params={}, options={}, secrets=None, timeout_seconds=None, lease_expires_at=0.0)
    attempt_log = AttemptLog("d")
    with pytest.raises(Exception, match="S3AFileSystem"):
        executor.execute(Execution(claimed, {"s3": s3.options("alice")}, AttemptControl(), attempt_log))
    assert "S3: direct way" in attempt_log.close()


def test_speedy_demo_s3_variant(s3_api, s3):
    """examples/speedy_demo.py --s3: upload, the Speedy example on S3 with the caller's keys, read back."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("speedy_demo", Path(__file__).parents[2] / "examples/speedy_demo.py")
    assert spec and spec.loader
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    rows = demo.s3_demo(s3_api, "alice-bucket", s3.options("alice"))
    assert rows == [["ana", 34, "Lisbon"], ["cy", 41, "Lisbon"], ["dee", 52, "Oslo"]]
    assert "demo/out/adults/_SUCCESS" in s3.keys_under("alice-bucket", "demo/")


def test_a_job_reads_and_writes_s3_through_a_named_secret_and_a_rotation_applies_to_the_next_run(s3_api, s3):
    """The issue's "done when": the job names an s3 secret; runs carry no credentials (a schedule's
    body is empty); the secret is wrong at first (bob's keys: access denied), rotated to alice's the
    next run succeeds; the keys appear in no answer, log or file."""
    bob, alice = s3.options("bob"), s3.options("alice")
    made = s3_api.post("/api/v1/secrets", json={"name": "warehouse", "kind": "s3", "values": bob})
    assert made.status_code == 201, made.text
    job = s3_api.post("/api/v1/jobs", json={"name": "nightly", "steps": SPEEDY, "max_attempts": 1,
                                            "options": {"s3": {"secret": "warehouse"}}})
    assert job.status_code == 201, job.text
    first = wait_for_state(s3_api, s3_api.post("/api/v1/jobs/nightly/runs", json={}).json()["id"], timeout=120)
    assert first["state"] == "FAILED" and "access denied" in first["error"].lower(), first["error"]
    assert s3_api.put("/api/v1/secrets/warehouse", json={"values": alice}).json()["version"] == 2
    second = wait_for_state(s3_api, s3_api.post("/api/v1/jobs/nightly/runs", json={}).json()["id"], timeout=120)
    assert second["state"] == "SUCCEEDED", second["error"]
    assert second["options"]["s3"] == {"secret": "warehouse"}
    assert "out/adults/_SUCCESS" in s3.keys_under("alice-bucket", "out/")
    texts = [s3_api.get(p).text for p in (f"/api/v1/runs/{first['id']}", f"/api/v1/runs/{first['id']}/log",
                                           f"/api/v1/runs/{second['id']}/log", "/api/v1/secrets", "/api/v1/jobs")]
    for value in (bob["aws_secret_access_key"], alice["aws_secret_access_key"]):
        assert not [t for t in texts if value in t]
        files = [p for p in s3_api.services.settings.data_dir.rglob("*") if p.is_file()]
        assert not [p for p in files if value.encode() in p.read_bytes()]


def test_a_repeat_read_of_an_unchanged_s3_object_skips_inference(s3_api, s3):
    """The staged copy has a new local path every attempt; the schema cache knows it by the S3
    object's ETag, so a repeat read hits as a local one does, and a changed object misses."""
    cache = s3_api.services.catalog.schema_cache
    cache.clear()
    steps = [["read_csv", "s3://alice-bucket/in/people.csv", {"header": True, "inferSchema": True}],
             ["select", "age"], ["collect"]]
    first = run(s3_api, steps, s3.options("alice"))
    assert first["state"] == "SUCCEEDED", first["error"]
    hits, misses = cache.hits, cache.misses
    again = run(s3_api, steps, s3.options("alice"))
    assert again["state"] == "SUCCEEDED", again["error"]
    assert (cache.hits, cache.misses) == (hits + 1, misses)
    assert again["result"]["rows"] == first["result"]["rows"] == [[34], [28], [41], [52]]
    # New content, new ETag: inferred again (age is now a string column).
    s3.client().put_object(Bucket="alice-bucket", Key="in/people.csv", Body=b"name,age,city\nana,old,Lisbon\n")
    changed = run(s3_api, steps, s3.options("alice"))
    assert changed["state"] == "SUCCEEDED", changed["error"]
    assert (cache.hits, cache.misses) == (hits + 1, misses + 1)
    assert changed["result"]["rows"] == [["old"]]
