"""The Spark application page with thousands of stages: a page of them at a time, in stage order
or slowest first, and the longest jobs on the timeline; what it shows comes from the server's
aggregate (tests/integration/test_spark_analysis.py checks the numbers)."""

from __future__ import annotations

import re

import orjson
import pytest
from fastapi.testclient import TestClient

from harness import payload_bytes
from stoker.app import Background, create_app
from stoker.events.payload import parse_payload
from ui.test_ui_pages import sign_in

STAGES = 250


def many_stages() -> list[tuple[int, bytes]]:
    """250 jobs of one stage each; stage n takes n ms, except stage 7, the slowest (10 s)."""
    events, t = [], 1000
    for n in range(STAGES):
        took = 10_000 if n == 7 else n + 1
        info = {"Stage ID": n, "Stage Name": f"stage-{n}", "Number of Tasks": 1, "Submission Time": t}
        events += [(t, orjson.dumps({"Event": "SparkListenerJobStart", "Job ID": n, "Submission Time": t,
                                     "Stage IDs": [n]})),
                   (t, orjson.dumps({"Event": "SparkListenerStageSubmitted", "Stage Info": info})),
                   (t + took, orjson.dumps({"Event": "SparkListenerStageCompleted",
                                            "Stage Info": {**info, "Completion Time": t + took}})),
                   (t + took, orjson.dumps({"Event": "SparkListenerJobEnd", "Job ID": n, "Completion Time": t + took,
                                            "Job Result": {"Result": "JobSucceeded"}}))]
        t += took
    return events


@pytest.fixture
def spark_ui(services):
    app = create_app(services, background=Background(services, embedded_worker=False))
    body = payload_bytes("big-job", "run-9", many_stages(), payload_counter=1, compress=False)
    app.state.event_store.ingest(parse_payload(body), body)
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client)
        yield client


def stage_rows(html: str) -> list[str]:
    table = html[html.index('<table id="stages">'):]
    return re.findall(r"<tr class=\"[^\"]*\"><td>(\d+)</td>", table[:table.index("</table>")])


def test_a_page_of_stages_at_a_time_with_the_longest_jobs_drawn(spark_ui):
    page = spark_ui.get("/ui/spark/big-job/run-9")
    assert page.status_code == 200
    assert stage_rows(page.text) == [str(n) for n in range(100)]
    assert "250 stages, 1–100 shown" in page.text
    assert "The 100 longest of 250 jobs are drawn." in page.text
    assert page.text.count('<rect class="bar') == 200  # 100 jobs + the 100 stages listed
    assert 'href="/ui/spark/big-job/run-9?order=id&amp;offset=100"' in page.text
    last = spark_ui.get("/ui/spark/big-job/run-9?offset=200")
    assert stage_rows(last.text) == [str(n) for n in range(200, 250)] and 'rel="next"' not in last.text


def test_slowest_stages_first(spark_ui):
    page = spark_ui.get("/ui/spark/big-job/run-9?order=duration")
    rows = stage_rows(page.text)
    assert rows[:3] == ["7", "249", "248"] and len(rows) == 100


@pytest.mark.parametrize("query", ["order=name", "offset=-1", "offset=x"])
def test_a_bad_order_or_offset_is_refused_with_the_reason(spark_ui, query):
    response = spark_ui.get(f"/ui/spark/big-job/run-9?{query}")
    assert response.status_code in (400, 422), response.text
    assert ("order" in response.text) or ("offset" in response.text)
