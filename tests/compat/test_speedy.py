"""The Speedy Gonzales API (seed-apis.md §1) driven as its clients drive it: the seed's bodies as
written, pop's body the submitted body plus its id, the statuses, unknown ids."""

from __future__ import annotations

import uuid

import pytest

from conftest import ADMIN_TOKEN, wait_for_state

S3 = {"aws_access_key_id": "AKIASPEEDY", "aws_secret_access_key": "SPEEDYSECRET"}
# The seed's body: options.s3, and steps as lists whose first element names a function (a
# one-element list is a function without arguments).
SEED_BODY = {"options": {"s3": S3}, "steps": [["range", 10], ["filter", "id > 4"], ["count"]]}


@pytest.fixture
def popper(services):
    """An app with no embedded worker: the client's own process pops the jobs, as in Speedy."""
    from fastapi.testclient import TestClient

    from stoker.app import create_app

    with TestClient(create_app(services), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        yield client


def test_submit_and_status_as_written(api):
    submitted = api.post("/jobs/submit", json={"steps": [["sleep", 0], ["noop"]]})
    assert submitted.status_code == 200 and set(submitted.json()) == {"job_id"}
    job_id = submitted.json()["job_id"]
    assert uuid.UUID(job_id).version == 4
    assert api.get(f"/jobs/status/{job_id}").json()["status"] in ("QUEUED", "RUNNING", "SUCCEEDED")
    wait_for_state(api, job_id)
    assert api.get(f"/jobs/status/{job_id}").json() == {"status": "SUCCEEDED"}
    assert api.get(f"/api/v1/runs/{job_id}").json()["id"] == job_id  # the same run in the native API


def test_failed_job_status(api):
    job_id = api.post("/jobs/submit", json={"steps": [["fail", "boom"]]}).json()["job_id"]
    wait_for_state(api, job_id)
    assert api.get(f"/jobs/status/{job_id}").json() == {"status": "FAILED"}


def test_unknown_job_is_404_not_found(api):
    for job_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        response = api.get(f"/jobs/status/{job_id}")
        assert response.status_code == 404 and response.json() == {"status": "NOT_FOUND"}


def test_pop_answers_the_submitted_body_plus_its_id(popper, services):
    assert popper.get("/jobs/pop").status_code == 204  # an empty queue
    job_id = popper.post("/jobs/submit", json=SEED_BODY).json()["job_id"]
    popped = popper.get("/jobs/pop")
    assert popped.json() == {"job_id": job_id, **SEED_BODY}  # options.s3 to the process that runs it
    assert popper.get(f"/jobs/status/{job_id}").json() == {"status": "RUNNING"}
    assert popper.get("/jobs/pop").status_code == 204  # popped once
    # The lease protocol rides in the headers: the popper finishes the job through them.
    links = dict(part.split("; ") for part in popped.headers["Link"].split(", "))
    finish = {rel: url.strip("<>") for url, rel in links.items()}['rel="finish"']
    assert popped.headers["X-Stoker-Attempt"] in finish and popped.headers["X-Stoker-Lease-Expires"]
    done = popper.post(finish, json={"outcome": "succeeded", "result": {"count": 5}})
    assert done.json()["run_state"] == "SUCCEEDED"
    again = popper.post(finish, json={"outcome": "failed"})
    assert again.status_code == 409 and "no longer holds the lease" in again.json()["detail"]
    assert popper.get(f"/jobs/status/{job_id}").json() == {"status": "SUCCEEDED"}
    reader = services.tokens.create("reader", ["read"])
    assert popper.get("/jobs/pop", headers={"Authorization": f"Bearer {reader}"}).status_code == 403


def test_pop_without_options_answers_empty_options(popper):
    job_id = popper.post("/jobs/submit", json={"steps": [["range", 1], ["collect"]]}).json()["job_id"]
    assert popper.get("/jobs/pop").json() == {"job_id": job_id, "options": {}, "steps": [["range", 1], ["collect"]]}


def test_s3_secrets_shown_to_no_one_but_the_popper(api, services):
    body = {"steps": [["sleep", 0], ["noop"]], "options": {"s3": S3}}
    job_id = api.post("/jobs/submit", json=body).json()["job_id"]
    done = wait_for_state(api, job_id)
    assert "SPEEDYSECRET" not in str(done) and "AKIASPEEDY" not in str(done)
    assert "SPEEDYSECRET" not in api.get("/api/v1/runs").text
    assert "SPEEDYSECRET" not in api.get(f"/api/v1/runs/{job_id}/log").text
    from stoker.store.tables import runs

    with services.db.read() as conn:
        stored = conn.execute(runs.select().where(runs.c.id == job_id)).one()
    assert "SPEEDYSECRET" not in str(stored._mapping)  # encrypted at rest


def test_a_bad_pipeline_is_refused_and_nothing_queued(api):
    response = api.post("/jobs/submit", json={"steps": [["nope"]]})
    assert response.status_code == 422 and "nope" in response.text
    assert api.get("/api/v1/runs").json()["runs"] == []
