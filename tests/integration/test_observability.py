"""What an operator sees: Prometheus metrics read from the database and this process, a request id on
every response and log line, and JSON logs on request."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time

from prometheus_client.parser import text_string_to_metric_families

from conftest import wait_for_state
from harness import payload_bytes


def scrape(api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = api.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def test_metrics_follow_runs_attempts_dead_letters_and_ingest(api):
    api.post("/api/v1/jobs", json={"name": "broken", "steps": [["fail", "on purpose"]], "max_attempts": 1})
    api.post("/api/v1/jobs", json={"name": "fine", "steps": [["noop"]], "max_concurrent_runs": 5})
    fine = [api.post("/api/v1/jobs/fine/runs", json={}).json()["id"] for _ in range(3)]
    broken = api.post("/api/v1/jobs/broken/runs", json={}).json()["id"]
    for run_id in [*fine, broken]:
        wait_for_state(api, run_id)
    ack = api.post("/collect", content=payload_bytes("metrics-job", "app-1", [(1, b'{"Event": "X"}')],
                                                     payload_counter=1),
                   headers={"Content-Type": "application/json"})
    assert ack.status_code == 200, ack.text

    samples = scrape(api)
    assert samples[("stoker_runs", (("job", "fine"), ("state", "SUCCEEDED")))] == 3
    assert samples[("stoker_runs", (("job", "broken"), ("state", "FAILED")))] == 1
    assert samples[("stoker_dead_letters_total", (("kind", "exhausted"),))] == 1
    assert samples[("stoker_attempt_duration_seconds_count", (("executor", "inline"), ("outcome", "succeeded")))] == 3
    assert samples[("stoker_attempt_duration_seconds_count", (("executor", "inline"), ("outcome", "failed")))] == 1
    assert samples[("stoker_queue_wait_seconds_count", ())] == 4
    assert samples[("stoker_event_ingest_events_total", ())] == 1
    assert samples[("stoker_event_ingest_bytes_total", ())] > 0
    # Requests are counted under their route template, not the concrete path.
    route = ("stoker_http_requests_total",
             (("method", "GET"), ("route", "/api/v1/runs/{run_id}"), ("status", "200")))
    assert samples[route] >= 4
    assert not any("/api/v1/runs/" + fine[0] in str(labels) for _, labels in samples)


def test_queue_depth_and_oldest_age_per_lane(services):
    from fastapi.testclient import TestClient

    from conftest import ADMIN_TOKEN
    from stoker.app import create_app

    app = create_app(services)  # no worker: the runs stay QUEUED
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as api:
        for _ in range(2):
            assert api.post("/api/v1/runs", json={"steps": [["noop"]]}).status_code == 201
        samples = scrape(api)
    assert samples[("stoker_queue_depth", (("lane", "instant"),))] == 2
    assert 0 <= samples[("stoker_queue_oldest_age_seconds", (("lane", "instant"),))] < 60


def test_metrics_need_the_admin_scope(api, services):
    assert api.get("/metrics", headers={"Authorization": ""}).status_code == 401
    worker = services.tokens.create("w", ["worker"])
    assert api.get("/metrics", headers={"Authorization": f"Bearer {worker}"}).status_code == 403
    # They name every team's jobs: a team's reader is not shown them.
    reader = services.tokens.create("r", ["read", "submit"])
    assert api.get("/metrics", headers={"Authorization": f"Bearer {reader}"}).status_code == 403


def test_every_response_has_a_request_id_and_a_sane_one_is_kept(api, caplog):
    first, second = api.get("/api/v1/runs"), api.get("/api/v1/runs")
    assert first.headers["X-Request-ID"] and first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    chosen = "3f2c2a6e1b9d4c0e8a7b6c5d4e3f2a1b"
    assert api.get("/api/v1/runs", headers={"X-Request-ID": chosen}).headers["X-Request-ID"] == chosen
    # A header that is no id (log injection, say) is replaced, never echoed.
    forged = api.get("/api/v1/runs", headers={"X-Request-ID": "x\\nERROR forged line"})
    assert forged.headers["X-Request-ID"] != "x\\nERROR forged line"
    assert api.get("/api/v1/runs/nope").headers["X-Request-ID"]  # errors too


def test_log_lines_carry_the_request_id_and_json_format_is_one_object_per_line(tmp_path):
    script = """
import logging
from asgi_correlation_id import correlation_id
from stoker.cli import _setup_logging
from stoker.config import Settings
_setup_logging(Settings())
token = correlation_id.set("req-123")
logging.getLogger("stoker.test").info("hello %s", "there")
"""
    plain = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           env={"PATH": "/usr/bin:/bin"})
    assert "[req-123]: hello there" in plain.stderr
    structured = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                                env={"PATH": "/usr/bin:/bin", "STOKER_LOG_FORMAT": "json"})
    line = json.loads(structured.stderr.strip().splitlines()[-1])
    assert line["request_id"] == "req-123" and line["message"] == "hello there"
    assert line["level"] == "INFO" and line["logger"] == "stoker.test"
    assert logging.getLogger("stoker.test").level == logging.NOTSET  # the test process is untouched


def test_metrics_count_reaped_leases_and_sink_lag_and_failures(services):
    """Leases reaped by the reaper, and how far behind (and how failing) each sink is."""
    from fastapi.testclient import TestClient

    from conftest import ADMIN_TOKEN
    from stoker.app import create_app
    from stoker.store.sink_cursors import Cursors

    app = create_app(services)  # no worker, no publisher: this test plays both
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as api:
        for _ in range(3):
            assert api.post("/api/v1/runs", json={"steps": [["sleep", 1], ["noop"]]}).status_code == 201
        claimed = services.queue.claim("gone-worker", limit=2, lease_seconds=0.05)
        assert len(claimed) == 1  # the ad-hoc job runs one at a time
        time.sleep(0.2)
        assert services.queue.reap() == 1
        cursors = Cursors(services.db, owner="test-publisher", lease_seconds=30)
        cursors.ensure("webhook:test", position=1)
        assert cursors.claim("webhook:test") is not None
        assert cursors.failed("webhook:test", position=1, failures=4, error="connection refused")
        samples = scrape(api)
    assert samples[("stoker_reaped_leases_total", ())] == 1
    # Three queued runs wrote three outbox events (plus the running and retrying ones): the sink
    # delivered one, so everything past it is its lag.
    lag = samples[("stoker_sink_lag_events", (("sink", "webhook:test"),))]
    assert lag >= 2
    assert samples[("stoker_sink_delivery_failures", (("sink", "webhook:test"),))] == 4
