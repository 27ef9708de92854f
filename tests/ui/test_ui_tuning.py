"""A job's tuning page (TestClient): before-and-after charts of each run's core-seconds, CPU-seconds
and duration (as written vs with a trial's settings), the trials with their settings, what they
replaced, prediction, measured figures, verdict and evidence; linked from the job's page."""

from __future__ import annotations

import html
import json
import re

import pytest
from fastapi.testclient import TestClient
from test_ui_pages import sign_in

from tuning_days import Days


@pytest.fixture
def ui(services):
    from stoker.app import Background, create_app

    app = create_app(services, background=Background(services, embedded_worker=False, schedules=False,
                                                     cluster_duties=False))
    with TestClient(app, follow_redirects=False) as client:
        yield client


def test_the_tuning_page_shows_before_and_after_and_each_trial(ui, services, tmp_path):
    days = Days(services, tmp_path, "nightly", {"mode": "auto"})
    days.finish("over_partitioned")
    days.finish("skew")
    sign_in(ui)
    assert 'href="/ui/jobs/nightly/tuning"' in ui.get("/ui/jobs/nightly").text
    page = ui.get("/ui/jobs/nightly/tuning")
    assert page.status_code == 200
    charts = dict(re.findall(r'id="chart-(\w+)" class="chart" data-chart="tuning" data-series=\'([^\']+)\'', page.text))
    assert set(charts) == {"core_s", "cpu_s", "duration_s"}
    core = json.loads(html.unescape(charts["core_s"]))
    assert core["x"] == [1, 2] and core["written"][1] is None and core["tuned"][0] is None
    assert core["tuned"][1] < core["written"][0]  # after < before
    trials = re.search(r'<table id="trials">.*?</table>', page.text, re.S).group(0)
    assert "kept" in trials and "spark.sql.shuffle.partitions=" in trials and "(400)" in trials
    assert "too many partitions" in trials and "lower than the baseline" in trials
    assert ui.get("/ui/jobs/nope/tuning").status_code == 404
