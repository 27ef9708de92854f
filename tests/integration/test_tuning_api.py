"""The tuning policy of a job through the API (docs/tuning.md): defaults, validation (422 naming
what is wrong, nothing changed), PATCH, and `allow` bound to the job's own conf."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN

PIPELINE = [["range", 10], ["collect"]]


@pytest.fixture
def client(services):
    from stoker.app import Background, create_app

    app = create_app(services, background=Background(services, embedded_worker=False, schedules=False,
                                                     cluster_duties=False))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as c:
        yield c


def test_a_job_is_off_by_default_and_takes_a_policy_with_defaults(client):
    plain = client.post("/api/v1/jobs", json={"name": "plain", "steps": PIPELINE}).json()
    assert plain["tuning"] == {"mode": "off", "objective": "core_seconds", "max_slowdown": 0.1, "allow": []}
    tuned = client.post("/api/v1/jobs", json={"name": "tuned", "steps": PIPELINE, "mode": "submit",
                                              "conf": {"spark.cores.max": 4},
                                              "tuning": {"mode": "auto", "allow": ["spark.cores.max"]}})
    assert tuned.status_code == 201, tuned.text
    assert tuned.json()["tuning"] == {"mode": "auto", "objective": "core_seconds", "max_slowdown": 0.1,
                                      "allow": ["spark.cores.max"]}
    patched = client.patch("/api/v1/jobs/tuned", json={"tuning": {"mode": "advise", "objective": "duration",
                                                                  "max_slowdown": 0.2}}).json()
    assert patched["tuning"] == {"mode": "advise", "objective": "duration", "max_slowdown": 0.2, "allow": []}
    assert client.patch("/api/v1/jobs/tuned", json={"tuning": None}).json()["tuning"]["mode"] == "off"


@pytest.mark.parametrize(("tuning", "says"), [
    ({"mode": "always"}, "tuning.mode must be one of off, advise, auto"),
    ({"objective": "money"}, "tuning.objective must be one of core_seconds, duration"),
    ({"max_slowdown": 2}, "tuning.max_slowdown must be a fraction between 0 and 1"),
    ({"max_slowdown": True}, "tuning.max_slowdown"),
    ({"allow": "spark.cores.max"}, "tuning.allow must be a list"),
    ({"allow": ["spark.sql.session.timeZone"]}, "spark.sql.session.timeZone: tuning does not change it"),
    ({"allow": ["spark.executor.memory"]}, "spark.executor.memory: the job's conf does not set it"),
    ({"speed": "fast"}, "unknown field(s) speed"),
])
def test_a_bad_policy_is_a_422_saying_what_is_wrong_and_changes_nothing(client, tuning, says):
    refused = client.post("/api/v1/jobs", json={"name": "bad", "steps": PIPELINE, "tuning": tuning})
    assert refused.status_code == 422 and says in refused.text, refused.text
    assert client.get("/api/v1/jobs/bad").status_code == 404
    client.post("/api/v1/jobs", json={"name": "kept", "steps": PIPELINE, "tuning": {"mode": "advise"}})
    refused = client.patch("/api/v1/jobs/kept", json={"tuning": tuning})
    assert refused.status_code == 422 and says in refused.text, refused.text
    assert client.get("/api/v1/jobs/kept").json()["tuning"]["mode"] == "advise"


def test_removing_a_key_from_the_conf_that_allow_names_is_refused(client):
    client.post("/api/v1/jobs", json={"name": "j", "steps": PIPELINE, "mode": "submit",
                                      "conf": {"spark.executor.memory": "2g"},
                                      "tuning": {"mode": "auto", "allow": ["spark.executor.memory"]}})
    refused = client.patch("/api/v1/jobs/j", json={"conf": {}})
    assert refused.status_code == 422 and "spark.executor.memory" in refused.text
    assert client.get("/api/v1/jobs/j").json()["conf"] == {"spark.executor.memory": "2g"}


def test_a_container_job_takes_no_tuning(client):
    refused = client.post("/api/v1/jobs", json={"name": "c", "kind": "container", "image": "x", "command": "true",
                                                "tuning": {"mode": "auto"}})
    assert refused.status_code == 422 and "tuning applies to pipelines" in refused.text, refused.text
