"""The executors' way to S3 for real: moto's S3 server (IAM enforced) and real Spark, with the way
forced (STOKER_S3_WAY=executors) on the shared local session, whose executors would otherwise
share the worker's disk. tests/e2e/test_clusters.py runs it on a real standalone cluster, where it
is chosen by itself."""

from __future__ import annotations

import pytest
from test_s3 import (  # the staged way's test, run here again the executors' way
    PEOPLE,
    failing_write,
    test_a_repeat_read_of_an_unchanged_s3_object_skips_inference,  # noqa: F401
)

from conftest import ADMIN_TOKEN, make_services, wait_for_state

pytestmark = pytest.mark.spark


@pytest.fixture
def s3(moto_s3):
    moto_s3.empty("alice-bucket")
    moto_s3.client().put_object(Bucket="alice-bucket", Key="in/people.csv", Body=PEOPLE.encode())
    return moto_s3


@pytest.fixture
def api(spark, s3, tmp_path):
    from fastapi.testclient import TestClient

    from stoker.app import Background, create_app

    services = make_services(tmp_path / "data", lease_seconds=10.0, heartbeat_seconds=1.0,
                             reap_interval_seconds=0.5, s3_way="executors")
    app = create_app(services, background=Background(services, embedded_worker=True))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        client.services = services
        yield client
    services.close()


@pytest.fixture
def s3_api(api):
    """For the tests taken from test_s3.py: this module's API, the executors' way."""
    return api


def run(api, steps, s3_options):
    response = api.post("/api/v1/runs", json={"steps": steps, "options": {"s3": s3_options}})
    assert response.status_code == 201, response.text
    return wait_for_state(api, response.json()["id"], timeout=120)


def test_csv_to_parquet_and_back_through_the_executors_with_no_staging(api, s3, spark):
    steps = [["read_csv", "s3://alice-bucket/in/people.csv", {"header": True, "inferSchema": True}],
             ["filter", "age > 30"], ["write_parquet", "s3://alice-bucket/out/adults/"]]
    done = run(api, steps, s3.options("alice"))
    assert done["state"] == "SUCCEEDED", done["error"]
    assert done["result"] == {"type": "write", "format": "parquet", "path": "s3://alice-bucket/out/adults/",
                              "rows": 3}
    written = s3.keys_under("alice-bucket", "out/")
    parts = [k for k in written if k != "out/adults/_SUCCESS"]
    assert len(parts) == len(written) - 1  # _SUCCESS is there
    assert parts and all(k.startswith("out/adults/part-") and k.endswith(".parquet") for k in parts)
    assert s3.keys_under("alice-bucket", "") == sorted(["in/people.csv", *written])  # no temporary prefix left
    log = api.get(f"/api/v1/runs/{done['id']}/log").text
    assert "S3: executors' way" in log and "published s3://alice-bucket/out/adults/" in log
    assert not (api.services.settings.data_dir / "staging").exists()  # nothing went through the worker's disk
    secret = s3.options("alice")["aws_secret_access_key"]
    assert secret not in log
    assert not [kv for kv in spark.sparkContext.getConf().getAll() if secret in kv[1]]

    back = run(api, [["read_parquet", "s3://alice-bucket/out/adults"], ["sort", "name"], ["collect"]],
               s3.options("alice"))
    assert back["state"] == "SUCCEEDED", back["error"]
    assert back["result"]["rows"] == [["ana", 34, "Lisbon"], ["cy", 41, "Lisbon"], ["dee", 52, "Oslo"]]


def test_csv_and_json_writes_keep_their_modes_and_read_back(api, s3):
    write = [["read_csv", "s3://alice-bucket/in/people.csv", {"header": True, "inferSchema": True}],
             ["write_csv", "s3://alice-bucket/out/people", "overwrite"]]
    assert run(api, write, s3.options("alice"))["state"] == "SUCCEEDED"
    first = s3.keys_under("alice-bucket", "out/people/")
    assert run(api, write, s3.options("alice"))["state"] == "SUCCEEDED"
    second = s3.keys_under("alice-bucket", "out/people/")
    assert len(second) == len(first) and second != first  # overwritten, not added to
    again = run(api, [write[0], ["write_csv", "s3://alice-bucket/out/people"]], s3.options("alice"))
    assert again["state"] == "FAILED" and "already exists" in again["error"]
    back = run(api, [["read_csv", "s3://alice-bucket/out/people", {"header": True, "inferSchema": True}],
                     ["write_json", "s3://alice-bucket/out/people.json"]], s3.options("alice"))
    assert back["state"] == "SUCCEEDED", back["error"]
    rows = run(api, [["read_json", "s3://alice-bucket/out/people.json"], ["sort", "name"],
                     ["select", "name", "age"], ["collect"]], s3.options("alice"))
    assert rows["state"] == "SUCCEEDED", rows["error"]
    assert rows["result"]["rows"] == [["ana", 34], ["bo", 28], ["cy", 41], ["dee", 52]]


def test_a_write_that_fails_in_the_executors_leaves_nothing_visible(api, s3):
    steps = failing_write(s3)
    done = run(api, steps, s3.options("alice"))
    assert done["state"] == "FAILED"
    assert s3.keys_under("alice-bucket", "out/") == []  # neither output nor a temporary prefix


def test_submit_mode_has_its_driver_commit_what_the_executors_wrote(api, s3):
    """spark-submit's driver gets the keys in its 0600 spec file (not in its properties file),
    has the executors read and write, and commits; the worker stages nothing."""
    steps = [["read_csv", "s3://alice-bucket/in/people.csv", {"header": True, "inferSchema": True}],
             ["filter", "age > 30"], ["write_parquet", "s3://alice-bucket/out/submitted/"]]
    api.post("/api/v1/jobs", json={"name": "submitted", "steps": steps, "mode": "submit"}).raise_for_status()
    made = api.post("/api/v1/jobs/submitted/runs", json={"options": {"s3": s3.options("alice")}})
    done = wait_for_state(api, made.json()["id"], timeout=180)
    assert done["state"] == "SUCCEEDED", done["error"]
    assert done["result"]["rows"] == 3 and done["result"]["path"] == "s3://alice-bucket/out/submitted/"
    log = api.get(f"/api/v1/runs/{done['id']}/log").text
    assert "S3: executors' way" in log and "S3: staged way" not in log
    assert s3.options("alice")["aws_secret_access_key"] not in log
    assert "out/submitted/_SUCCESS" in s3.keys_under("alice-bucket", "out/")
