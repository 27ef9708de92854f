"""A job's schedule in the UI: set it, see it in words with its next ticks and a strip of past ticks
coloured by outcome, pause and resume it, and a bad schedule refused in words (TestClient)."""

from __future__ import annotations

import re

from test_ui_pages import sign_in, ui  # noqa: F401  (the fixture)

from conftest import ADMIN_TOKEN
from harness import wait_for


def test_a_job_page_sets_shows_pauses_and_resumes_its_schedule(ui):  # noqa: F811
    csrf = sign_in(ui)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert ui.post("/api/v1/jobs", json={"name": "ticker", "steps": [["noop"]]}, headers=headers).status_code == 201
    page = ui.get("/ui/jobs/ticker")
    assert "This job runs only when asked." in page.text

    refused = ui.post("/ui/jobs/ticker/schedule", data={"csrf_token": csrf, "cron": "0 0 30 2 *"})
    assert refused.status_code == 422 and "day-of-month" in refused.text
    no_csrf = ui.post("/ui/jobs/ticker/schedule", data={"cron": "* * * * * *"})
    assert no_csrf.status_code == 403
    assert ui.get("/api/v1/jobs/ticker", headers=headers).json()["schedule"] is None

    saved = ui.post("/ui/jobs/ticker/schedule", data={"csrf_token": csrf, "cron": "* * * * * *",
                                                      "timezone": "Europe/Madrid", "overlap": "queue",
                                                      "catchup": "all"})
    assert saved.status_code == 303 and saved.headers["location"] == "/ui/jobs/ticker"
    wait_for(lambda: len(ui.get("/api/v1/jobs/ticker/ticks", headers=headers).json()["ticks"]) >= 3, timeout=20,
             what="three ticks")
    page = ui.get("/ui/jobs/ticker").text
    assert "Every second, Europe/Madrid" in page
    strip = re.search(r'<div class="ticks" id="tick-strip".*?</div>', page, re.S).group(0)
    assert len(re.findall(r'class="tick tick-(succeeded|queued|running)" href="/ui/runs/', strip)) >= 3
    assert "Jobs" in ui.get("/ui/jobs").text and "Every second, Europe/Madrid" in ui.get("/ui/jobs").text

    assert ui.post("/ui/jobs/ticker/schedule/pause", data={"csrf_token": csrf}).status_code == 303
    page = ui.get("/ui/jobs/ticker").text
    assert "(paused)" in page and 'id="schedule-toggle">Resume' in page
    assert ui.post("/ui/jobs/ticker/schedule/resume", data={"csrf_token": csrf}).status_code == 303
    assert 'id="schedule-toggle">Pause' in ui.get("/ui/jobs/ticker").text
    assert ui.post("/ui/jobs/ticker/schedule/explode", data={"csrf_token": csrf}).status_code == 404

    assert ui.post("/ui/jobs/ticker/schedule", data={"csrf_token": csrf, "cron": ""}).status_code == 303
    assert ui.get("/api/v1/jobs/ticker", headers=headers).json()["schedule"] is None
