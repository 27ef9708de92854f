"""Spark settings through the API, without Spark (issue 26): `conf` on jobs (POST, PATCH), ad-hoc
runs, job runs, batches, scheduled runs and the CLI; refusals are 422s naming each key; a run
records its own layers and shows them (redacted where Spark would). No worker runs here: what
Spark does with them is tests/integration/test_spark_conf.py."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
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


def test_conf_on_jobs_job_runs_ad_hoc_runs_and_batches_is_kept_by_layer(client):
    job = client.post("/api/v1/jobs", json={"name": "tz", "steps": PIPELINE, "conf": {
        "spark.sql.session.timeZone": "UTC", "spark.sql.shuffle.partitions": 8,
        "spark.sql.adaptive.enabled": False}})
    assert job.status_code == 201, job.text
    assert job.json()["conf"] == {"spark.sql.adaptive.enabled": "false", "spark.sql.session.timeZone": "UTC",
                                  "spark.sql.shuffle.partitions": "8"}

    run = client.post("/api/v1/jobs/tz/runs", json={"conf": {"spark.sql.shuffle.partitions": "3"}})
    assert run.status_code == 201, run.text
    shown = client.get(f"/api/v1/runs/{run.json()['id']}").json()
    assert shown["conf"] == {
        "spark.sql.adaptive.enabled": {"value": "false", "source": "job"},
        "spark.sql.session.timeZone": {"value": "UTC", "source": "job"},
        "spark.sql.shuffle.partitions": {"value": "3", "source": "run"}}
    assert shown["effective_conf"] is None  # no attempt has started

    adhoc = client.post("/api/v1/runs", json={"steps": PIPELINE, "conf": {"spark.sql.ansi.enabled": True}})
    assert adhoc.status_code == 201, adhoc.text
    assert adhoc.json()["conf"] == {"spark.sql.ansi.enabled": {"value": "true", "source": "run"}}
    by_name = client.post("/api/v1/runs", json={"job": "tz", "conf": {"spark.sql.ansi.enabled": True}}).json()
    assert by_name["conf"]["spark.sql.ansi.enabled"]["source"] == "run"
    assert by_name["conf"]["spark.sql.session.timeZone"]["source"] == "job"

    batch = client.post("/api/v1/batches", json={"job": "tz", "count": 2,
                                                 "conf": {"spark.sql.shuffle.partitions": 2}}).json()
    for run_id in batch["run_ids"]:
        conf = client.get(f"/api/v1/runs/{run_id}").json()["conf"]
        assert conf["spark.sql.shuffle.partitions"] == {"value": "2", "source": "run"}

    # PATCH replaces the job's conf; runs already queued keep theirs
    patched = client.patch("/api/v1/jobs/tz", json={"conf": {"spark.sql.shuffle.partitions": 16}}).json()
    assert patched["conf"] == {"spark.sql.shuffle.partitions": "16"}
    assert client.get(f"/api/v1/runs/{run.json()['id']}").json()["conf"]["spark.sql.session.timeZone"]
    assert client.patch("/api/v1/jobs/tz", json={"conf": {}}).json()["conf"] == {}


def test_scheduled_runs_carry_the_jobs_conf(client):
    client.post("/api/v1/jobs", json={"name": "daily", "steps": PIPELINE, "schedule": "0 6 * * *",
                                      "conf": {"spark.sql.session.timeZone": "Europe/Madrid"}})
    done = client.post("/api/v1/jobs/daily/backfill", json={"start": "2026-01-01T00:00:00Z",
                                                            "end": "2026-01-02T23:59:59Z"})
    assert done.status_code in (200, 201), done.text
    runs = client.get("/api/v1/jobs/daily/runs").json()["runs"]
    assert len(runs) == 2
    for run in runs:
        assert run["trigger"] == "backfill"
        assert run["conf"] == {"spark.sql.session.timeZone": {"value": "Europe/Madrid", "source": "job"}}


@pytest.mark.parametrize("key", ["spark.jars", "spark.driver.extraJavaOptions", "spark.sql.extensions",
                                 "spark.sql.catalog.x", "spark.executorEnv.AWS_SECRET_ACCESS_KEY",
                                 "spark.hadoop.fs.defaultFS", "spark.master", "spark.ui.enabled"])
def test_code_loading_keys_are_refused_everywhere_naming_the_key(client, key):
    client.post("/api/v1/jobs", json={"name": "ok", "steps": PIPELINE})
    for method, path, body in [
        ("POST", "/api/v1/jobs", {"name": "bad", "steps": PIPELINE, "conf": {key: "x"}}),
        ("PATCH", "/api/v1/jobs/ok", {"conf": {key: "x"}}),
        ("POST", "/api/v1/runs", {"steps": PIPELINE, "conf": {key: "x"}}),
        ("POST", "/api/v1/jobs/ok/runs", {"conf": {key: "x"}}),
        ("POST", "/api/v1/batches", {"job": "ok", "count": 2, "conf": {key: "x"}}),
    ]:
        answer = client.request(method, path, json=body)
        assert answer.status_code == 422, (method, path, answer.text)
        assert key in answer.text
    assert client.get("/api/v1/runs").json()["runs"] == []  # nothing queued
    assert client.get("/api/v1/jobs/ok").json()["conf"] == {}


def test_a_typo_in_a_value_is_a_422_not_a_failed_run(client):
    answer = client.post("/api/v1/runs", json={"steps": PIPELINE, "conf": {"spark.sql.shuffle.partitions": "8x"}})
    assert answer.status_code == 422
    assert "spark.sql.shuffle.partitions" in answer.text and "whole number" in answer.text
    answer = client.post("/api/v1/runs", json={"steps": PIPELINE, "conf": {"spark.sql.shuffle.partitions": [8]}})
    assert answer.status_code == 422  # the schema: strings, numbers, booleans


def test_a_warm_session_refuses_application_settings_at_submit_saying_what_would_honour_them(client):
    answer = client.post("/api/v1/runs", json={"steps": PIPELINE, "conf": {
        "spark.executor.memory": "2g", "spark.sql.shuffle.partitions": 4, "spark.executor.instances": 2}})
    assert answer.status_code == 422
    problems = {p["key"] for p in answer.json()["problems"]}
    assert problems == {"spark.executor.memory", "spark.executor.instances"}
    assert "mode" in answer.text and "submit" in answer.text

    assert client.post("/api/v1/jobs", json={"name": "warm", "steps": PIPELINE,
                                             "conf": {"spark.driver.memory": "1g"}}).status_code == 422
    made = client.post("/api/v1/jobs", json={"name": "own-app", "mode": "submit", "steps": PIPELINE,
                                             "conf": {"spark.driver.memory": "1g"}})
    assert made.status_code == 201, made.text
    run = client.post("/api/v1/jobs/own-app/runs", json={"conf": {"spark.executor.cores": 1}})
    assert run.status_code == 201, run.text
    # back to a warm session: the job's own settings could no longer apply
    answer = client.patch("/api/v1/jobs/own-app", json={"mode": "session"})
    assert answer.status_code == 422 and "spark.driver.memory" in answer.text
    assert client.get("/api/v1/jobs/own-app").json()["mode"] == "submit"


def test_values_spark_redacts_stay_redacted(services, client):
    services.settings = services.settings.replace(spark_conf_allow=("spark.sql.custom.*",))
    run = client.post("/api/v1/runs", json={"steps": PIPELINE, "conf": {"spark.sql.custom.password": "hunter2"}})
    assert run.status_code == 201, run.text
    assert "hunter2" not in client.get(f"/api/v1/runs/{run.json()['id']}").text


def test_the_admin_narrows_the_list(services, client):
    services.settings = services.settings.replace(spark_conf_deny=("spark.sql.ansi.*",))
    answer = client.post("/api/v1/runs", json={"steps": PIPELINE, "conf": {"spark.sql.ansi.enabled": True}})
    assert answer.status_code == 422 and "STOKER_SPARK_CONF_DENY" in answer.text


def test_the_cli_takes_conf_like_spark_submit(client, monkeypatch):
    from stoker.cli import main

    sent = {}

    def fake_submit(self, **body):
        from stoker.client import Run

        sent.update(body)
        return Run(id="r", job="adhoc", state="QUEUED")

    monkeypatch.setattr("stoker.client.sync.Runs.submit", fake_submit)
    result = CliRunner().invoke(main, ["submit", '[["range", 1], ["collect"]]', "--conf",
                                       "spark.sql.shuffle.partitions=8", "--conf",
                                       "spark.sql.session.timeZone=UTC", "--token", "t"])
    assert result.exit_code == 0, result.output
    assert sent["conf"] == {"spark.sql.shuffle.partitions": "8", "spark.sql.session.timeZone": "UTC"}
    bad = CliRunner().invoke(main, ["submit", '[["range", 1], ["collect"]]', "--conf", "nokey", "--token", "t"])
    assert bad.exit_code != 0 and "KEY=VALUE" in bad.output
