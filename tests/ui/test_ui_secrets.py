"""Secrets in the UI (create, rotate, delete; values never shown back; a secret a job names cannot be
deleted), and a job's notifications with their delivery history on its page (TestClient)."""

from __future__ import annotations

from test_ui_pages import sign_in, ui  # noqa: F401  (the fixture)

from conftest import ADMIN_TOKEN
from harness import free_port, wait_for

API = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_the_secrets_page_creates_rotates_and_deletes_without_showing_values(ui):  # noqa: F811
    csrf = sign_in(ui)
    assert "No secret yet." in ui.get("/ui/secrets").text
    made = ui.post("/ui/secrets", data={"csrf_token": csrf, "name": "warehouse", "kind": "s3",
                                         "values": "aws_access_key_id=AKIAUI\naws_secret_access_key=s3cr3t-v4lue\n",
                                         "description": "the lake"})
    assert made.status_code == 303
    page = ui.get("/ui/secrets").text
    assert "warehouse" in page and "aws_access_key_id, aws_secret_access_key" in page and "the lake" in page
    assert "s3cr3t-v4lue" not in page and "AKIAUI" not in page
    bad = ui.post("/ui/secrets", data={"csrf_token": csrf, "name": "broken", "kind": "env", "values": "no equals"})
    assert bad.status_code == 422 and "KEY=VALUE" in bad.text
    assert ui.post("/ui/secrets", data={"name": "x", "kind": "env", "values": "A=1"}).status_code == 403  # no CSRF
    assert ui.get("/api/v1/secrets/broken", headers=API).status_code == 404

    rotated = ui.post("/ui/secrets/warehouse/values", data={
        "csrf_token": csrf, "values": "aws_access_key_id=AKIA2\naws_secret_access_key=n3w-s3cr3t\n"})
    assert rotated.status_code == 303
    assert ui.get("/api/v1/secrets/warehouse", headers=API).json()["version"] == 2
    assert "n3w-s3cr3t" not in ui.get("/ui/secrets").text

    job = {"name": "lake-job", "steps": [["noop"]], "options": {"s3": {"secret": "warehouse"}}}
    assert ui.post("/api/v1/jobs", json=job, headers=API).status_code == 201
    assert 'href="/ui/jobs/lake-job"' in ui.get("/ui/secrets").text  # used by
    in_use = ui.post("/ui/secrets/warehouse/delete", data={"csrf_token": csrf})
    assert in_use.status_code == 409 and "lake-job" in in_use.text
    assert ui.patch("/api/v1/jobs/lake-job", json={"options": None}, headers=API).status_code == 200
    assert ui.post("/ui/secrets/warehouse/delete", data={"csrf_token": csrf}).status_code == 303
    assert ui.get("/api/v1/secrets/warehouse", headers=API).status_code == 404


def test_a_job_page_shows_its_notifications_and_their_deliveries(ui):  # noqa: F811
    sign_in(ui)
    nowhere = f"http://127.0.0.1:{free_port()}/chat"  # nothing listens: the delivery fails and says why
    job = {"name": "loud", "steps": [["fail", "boom"]], "max_attempts": 1,
           "notifications": {"on": ["failure"], "destinations": [{"kind": "chat", "url": nowhere}]}}
    assert ui.post("/api/v1/jobs", json=job, headers=API).status_code == 201
    run = ui.post("/api/v1/jobs/loud/runs", json={}, headers=API).json()
    wait_for(lambda: ui.get("/api/v1/jobs/loud/notifications", headers=API).json()["deliveries"], timeout=30,
             what="a delivery")
    wait_for(lambda: ui.get("/api/v1/jobs/loud/notifications", headers=API).json()["deliveries"][0]["last_error"],
             timeout=30, what="its failure")
    page = ui.get("/ui/jobs/loud").text
    assert "On failure" in page and "chat" in page
    assert f'href="/ui/runs/{run["id"]}"' in page and 'id="delivery-error"' in page
    quiet = {"name": "quiet", "steps": [["noop"]]}
    assert ui.post("/api/v1/jobs", json=quiet, headers=API).status_code == 201
    assert "No one is told how this job's runs end" in ui.get("/ui/jobs/quiet").text
