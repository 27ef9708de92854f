"""Named secrets through the real API and the embedded worker: write-only values, references from
jobs and runs resolved when an attempt starts, 422 for a missing one, rotation, redaction."""

from __future__ import annotations

import json

import pytest

from conftest import wait_for_state

TOKEN = "tok-9f1c2e7d5b3a"  # what the pipelines try to print
S3_SECRET = "s3-secret-b7e4c1a9d2f6"


def _everything(api, services) -> str:
    """Every answer a person can get about secrets, jobs and runs, as one text."""
    texts = [api.get(path).text for path in ("/api/v1/secrets", "/api/v1/jobs", "/api/v1/runs?limit=200")]
    for run in api.get("/api/v1/runs?limit=200").json()["runs"]:
        texts += [api.get(f"/api/v1/runs/{run['id']}").text, api.get(f"/api/v1/runs/{run['id']}/log").text]
    return "\n".join(texts)


def _db_text(services) -> str:
    from stoker.store.tables import jobs, runs, secrets

    with services.db.read() as conn:
        rows = [*conn.execute(runs.select()), *conn.execute(jobs.select()), *conn.execute(secrets.select())]
    return "\n".join(str(tuple(r)) for r in rows)


def test_values_are_write_only_and_reads_say_who_changed_what(api, services):
    made = api.post("/api/v1/secrets", json={"name": "demo", "kind": "generic", "values": {"token": TOKEN},
                                             "description": "a demo"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["keys"] == ["token"] and body["kind"] == "generic" and body["version"] == 1
    assert body["created_by"] == "admin" and body["used_by"] == []
    assert TOKEN not in made.text
    changed = api.put("/api/v1/secrets/demo", json={"values": {"token": TOKEN + "-2", "other": "x" * 8}})
    assert changed.status_code == 200 and changed.json()["version"] == 2
    assert changed.json()["keys"] == ["other", "token"]
    listed = api.get("/api/v1/secrets")
    assert [s["name"] for s in listed.json()["secrets"]] == ["demo"]
    assert TOKEN not in listed.text and TOKEN not in api.get("/api/v1/secrets/demo").text
    assert TOKEN not in _db_text(services)  # encrypted at rest, under a key of its own
    assert api.delete("/api/v1/secrets/demo").status_code == 204
    assert api.get("/api/v1/secrets/demo").status_code == 404


@pytest.mark.parametrize("body, words", [
    ({"name": "a", "kind": "vault", "values": {"k": "v"}}, "kind"),
    ({"name": "a", "kind": "s3", "values": {"aws_access_key_id": "AKIA"}}, "aws_secret_access_key"),
    ({"name": "a", "kind": "s3", "values": {"aws_access_key_id": "A", "aws_secret_access_key": "B", "x": "y"}},
     "not 'x'"),
    ({"name": "a", "kind": "env", "values": {"1BAD": "v"}}, "environment variable"),
    ({"name": "a", "kind": "generic", "values": {}}, "at least one"),
    ({"name": "a", "kind": "generic", "values": {"k": ""}}, "non-empty"),
    ({"name": "../a", "kind": "generic", "values": {"k": "v"}}, "name"),
    ({"name": "a", "kind": "generic", "values": {"k": "v"}, "extra": 1}, "extra"),
])
def test_bad_secrets_are_refused_and_nothing_is_stored(api, body, words):
    response = api.post("/api/v1/secrets", json=body)
    assert response.status_code == 422, response.text
    assert words in response.text
    assert api.get("/api/v1/secrets").json()["secrets"] == []


def test_a_name_is_taken_once_and_a_secret_a_job_uses_is_not_deleted(api):
    made = api.post("/api/v1/secrets", json={"name": "s", "kind": "generic", "values": {"k": "v1v1"}})
    assert made.status_code == 201
    again = api.post("/api/v1/secrets", json={"name": "s", "kind": "generic", "values": {"k": "v2v2"}})
    assert again.status_code == 409
    job = api.post("/api/v1/jobs", json={"name": "uses-s", "steps": [["fail", "{{secrets/s/k}}"]]})
    assert job.status_code == 201, job.text
    assert api.get("/api/v1/secrets/s").json()["used_by"] == ["uses-s"]
    refused = api.delete("/api/v1/secrets/s")
    assert refused.status_code == 409 and "uses-s" in refused.text
    assert api.get("/api/v1/secrets/s").status_code == 200


def test_a_missing_reference_is_422_at_submit_and_nothing_is_queued(api):
    api.post("/api/v1/secrets", json={"name": "env1", "kind": "env", "values": {"A": "aaaa"}})
    cases = [
        {"steps": [["range", 1], ["collect"]], "options": {"s3": {"secret": "nope"}}},
        {"steps": [["fail", "{{secrets/nope/k}}"]]},
        {"steps": [["fail", "{{secrets/env1/B}}"]]},  # no such key
        {"steps": [["range", 1], ["collect"]], "options": {"s3": {"secret": "env1"}}},  # wrong kind
    ]
    for body in cases:
        response = api.post("/api/v1/runs", json=body)
        assert response.status_code == 422, (body, response.text)
    assert "nope" in api.post("/api/v1/runs", json=cases[0]).json()["detail"]
    job = api.post("/api/v1/jobs", json={"name": "j", "steps": [["noop"]], "options": {"s3": {"secret": "nope"}}})
    assert job.status_code == 422 and "nope" in job.text
    assert api.get("/api/v1/jobs/j").status_code == 404
    assert api.get("/api/v1/runs").json()["runs"] == []


def test_a_job_holds_references_never_values(api):
    inline = api.post("/api/v1/jobs", json={"name": "j", "steps": [["noop"]], "options": {
        "s3": {"aws_access_key_id": "AKIA", "aws_secret_access_key": S3_SECRET}}})
    assert inline.status_code == 422 and "references" in inline.text
    assert S3_SECRET not in inline.text


def test_a_run_without_a_body_gets_its_jobs_secret_resolved_when_it_starts(api, services):
    """The job holds the reference; runs submitted with no options (a schedule's) resolve it at
    their attempt's start, so a secret changed after the submit applies to the next run."""
    api.post("/api/v1/secrets", json={"name": "demo", "kind": "generic", "values": {"token": TOKEN}})
    made = api.post("/api/v1/jobs", json={"name": "printer", "steps": [["fail", "token={{secrets/demo/token}}"]],
                                          "max_attempts": 1})
    assert made.status_code == 201, made.text
    run = api.post("/api/v1/jobs/printer/runs", json={}).json()
    assert run["steps"] == [["fail", "token={{secrets/demo/token}}"]]  # the reference, never the value
    done = wait_for_state(api, run["id"])
    assert done["state"] == "FAILED"
    assert done["error"].endswith("token=[REDACTED]"), done["error"]  # it was there, and hidden
    api.put("/api/v1/secrets/demo", json={"values": {"token": TOKEN + "-rotated"}})
    second = wait_for_state(api, api.post("/api/v1/jobs/printer/runs", json={}).json()["id"])
    assert second["error"].endswith("token=[REDACTED]")
    text = _everything(api, services) + _db_text(services)
    assert TOKEN not in text


def test_a_deleted_secret_fails_the_attempt_with_a_clear_message(api, services):
    api.post("/api/v1/secrets", json={"name": "gone", "kind": "generic", "values": {"k": "vvvv"}})
    # Ad-hoc runs take turns (their job runs one at a time): this one waits behind a sleeper.
    sleeper = api.post("/api/v1/runs", json={"steps": [["sleep", 1.5], ["noop"]]}).json()
    run = api.post("/api/v1/runs", json={"steps": [["fail", "{{secrets/gone/k}}"]]}).json()
    assert api.get(f"/api/v1/runs/{run['id']}").json()["state"] == "QUEUED"
    api.delete("/api/v1/secrets/gone")  # no job names it (an ad-hoc run does): allowed
    done = wait_for_state(api, run["id"])
    assert done["state"] == "FAILED"
    assert "secret 'gone'" in done["error"] and "no longer exists" in done["error"]
    assert len(done["attempts"]) == 1  # permanent: no retry can bring it back
    assert wait_for_state(api, sleeper["id"])["state"] == "SUCCEEDED"


def test_a_pipeline_that_prints_its_secret_shows_it_redacted_in_result_and_log(api, services):
    api.post("/api/v1/secrets", json={"name": "demo", "kind": "generic", "values": {"token": TOKEN}})
    steps = [["range", 2], ["with_column", "leak", "concat('v=', '{{secrets/demo/token}}')"], ["collect"]]
    run = api.post("/api/v1/runs", json={"steps": steps}).json()
    done = wait_for_state(api, run["id"], timeout=180)
    assert done["state"] == "SUCCEEDED", done["error"]
    assert {row[1] for row in done["result"]["rows"]} == {"v=[REDACTED]"}
    log = api.get(f"/api/v1/runs/{run['id']}/log").text
    assert TOKEN not in log
    assert TOKEN not in json.dumps(done)


def test_a_collected_spark_event_that_holds_a_secret_is_stored_redacted(api):
    """POST /collect (the listener's protocol): an event quoting a secret's value (a plan with a
    literal, a job description) is stored with [REDACTED], escaped forms included; others as sent."""
    from harness import payload_bytes

    api.post("/api/v1/secrets", json={"name": "demo", "kind": "generic", "values": {"token": TOKEN, "q": 'a"b\\c-x'}})
    event = json.dumps({"Event": "SparkListenerJobStart", "Job ID": 0, "Stage Infos": [], "Properties": {
        "spark.job.description": f"collect at filter token = '{TOKEN}'", "quoted": 'a"b\\c-x'}})
    plain = json.dumps({"Event": "SparkListenerJobEnd", "Job ID": 0, "Job Result": {"Result": "JobSucceeded"}})
    for counter, content in ((1, event), (2, plain)):
        response = api.post("/collect", content=payload_bytes("leaky-job", "app-1", [(1000 + counter, content)],
                                                             payload_counter=counter),
                            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
        assert response.status_code in (200, 202, 204), response.text
    events = api.get("/api/v1/spark/jobs/leaky-job/runs/app-1/events")
    assert events.status_code == 200, events.text
    lines = [json.loads(line) for line in events.text.splitlines()]
    assert [e["Event"] for e in lines] == ["SparkListenerJobStart", "SparkListenerJobEnd"]
    properties = lines[0]["Properties"]
    assert properties["spark.job.description"] == "collect at filter token = '[REDACTED]'"
    assert properties["quoted"] == "[REDACTED]"
    assert TOKEN not in events.text
