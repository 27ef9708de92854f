"""POST /collect and the Spark events read API over HTTP (TestClient)."""

from __future__ import annotations

import gzip
import zlib

import orjson
import pytest

from conftest import ADMIN_TOKEN, make_services
from harness import payload_bytes, payload_dict
from stoker.events.body import BodyLimits

JOB, RUN = "morning-dashboard", "local-1571838229751"
START = b'{"Event":"SparkListenerApplicationStart","App Name":"pi","App ID":"local-1","Timestamp":1000}'
END = b'{"Event":"SparkListenerApplicationEnd","Timestamp":4500}'


@pytest.fixture(params=[0, 1], ids=["checked-in-process", "checked-in-a-helper"])
def services(tmp_path, request):
    """Every test runs with payloads checked in the server process and in a helper process."""
    s = make_services(tmp_path / "data", ingest_processes=request.param)
    yield s
    s.close()


@pytest.fixture
def client(services):
    from fastapi.testclient import TestClient

    from stoker.app import create_app

    app = create_app(services)
    app.state.event_body_limits = BodyLimits(max_compressed_bytes=1 << 20,
                                             max_decompressed_bytes=8 << 20)
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as c:
        yield c


def post(client, body: bytes, **headers: str):
    return client.post("/collect", content=body, headers=headers)


def test_gzip_with_or_without_header_and_plain_json(client):
    gz = payload_bytes(JOB, RUN, [(1000, START)], payload_counter=1)
    assert post(client, gz, **{"Content-Encoding": "gzip"}).json() == {"status": "stored", "events": 1}
    assert post(client, payload_bytes(JOB, RUN, [(2000, b'{"a":1}')], payload_counter=2)).status_code == 200
    plain = payload_bytes(JOB, RUN, [(4500, END)], payload_counter=3, compress=False)
    assert post(client, plain, **{"Content-Type": "application/json"}).json()["status"] == "stored"
    lines = client.get(f"/api/v1/spark/jobs/{JOB}/runs/{RUN}/events")
    assert lines.headers["content-type"] == "application/x-ndjson"
    assert lines.content == START + b"\n" + b'{"a":1}\n' + END + b"\n"
    duration = client.get(f"/api/v1/spark/jobs/{JOB}/runs/{RUN}/duration").json()
    assert (duration["state"], duration["start"], duration["end"], duration["duration_ms"]) == \
        ("ended", 1000, 4500, 3500)
    summary = client.get(f"/api/v1/spark/jobs/{JOB}/runs/{RUN}/summary").json()
    assert summary["app_name"] == "pi" and summary["app_id"] == "local-1" and summary["events"] == 3
    assert client.get("/api/v1/spark/jobs").json() == {"jobs": [JOB]}
    assert [r["run_id"] for r in client.get(f"/api/v1/spark/jobs/{JOB}/runs").json()["runs"]] == [RUN]


def test_retry_acknowledged_and_stored_once(client):
    body = payload_bytes(JOB, RUN, [(1000, START), (1001, b"{}")], payload_counter=7)
    assert post(client, body).json() == {"status": "stored", "events": 2}
    assert post(client, body).json() == {"status": "duplicate", "events": 0}
    assert len(client.get(f"/api/v1/spark/jobs/{JOB}/runs/{RUN}/events").content.splitlines()) == 2


def test_running_app_reports_elapsed_time(client):
    post(client, payload_bytes(JOB, RUN, [(1000, START)], payload_counter=1))
    duration = client.get(f"/api/v1/spark/jobs/{JOB}/runs/{RUN}/duration").json()
    assert duration["state"] == "running" and duration["duration_ms"] is None
    assert duration["elapsed_ms"] > 0


def test_heartbeat_only_payload_is_not_an_event(client):
    post(client, payload_bytes(JOB, RUN, [(1000, START)], payload_counter=1))
    ack = post(client, payload_bytes(JOB, RUN, [], payload_counter=2, heartbeats=1))
    assert ack.json() == {"status": "heartbeat", "events": 0}
    assert client.get(f"/api/v1/spark/jobs/{JOB}/runs/{RUN}/events").content == START + b"\n"


@pytest.mark.parametrize("body, status, words", [
    (b"\x1f\x8b\x08\x00garbage", 400, "malformed gzip"),
    (gzip.compress(b"{not json"), 400, "malformed JSON"),
    (b"[1, 2]", 422, "Expected `object`"),
    (orjson.dumps({"run_id": RUN, "counters": {"message_counter": 1, "payload_counter": 1},
                   "messages": []}), 422, "job_name"),
    (orjson.dumps({**payload_dict(JOB, RUN, [(1, "{}")], payload_counter=1),
                   "counters": {"message_counter": "x", "payload_counter": 1}}), 422,
     "$.counters.message_counter"),
    (orjson.dumps(payload_dict(JOB, RUN, [(1, '"just a string"')], payload_counter=1)), 422,
     "must be a JSON object"),
    (orjson.dumps(payload_dict(JOB, RUN, [(1, "{broken")], payload_counter=1)), 422,
     "$.messages[0].content` is not valid JSON"),
    (orjson.dumps({**payload_dict(JOB, RUN, [(1, "{}")], payload_counter=1),
                   "messages": [{"message_type": "spark-event", "generated_at": "soon",
                                 "content": "{}"}]}), 422, "$.messages[0].generated_at"),
], ids=["bad-gzip", "bad-json", "not-an-object", "missing-job-name", "counter-type",
        "content-not-object", "content-not-json", "generated-at-type"])
def test_bad_payloads_name_the_problem_and_store_nothing(client, body, status, words):
    response = post(client, body)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert client.get("/api/v1/spark/jobs").json() == {"jobs": []}


def test_one_bad_event_rejects_the_whole_payload(client):
    body = payload_bytes(JOB, RUN, [(1, b"{}"), (2, b"[]")], payload_counter=1)
    assert post(client, body).status_code == 422
    assert client.get(f"/api/v1/spark/jobs/{JOB}/runs").status_code == 404


def test_gzip_bomb_and_oversized_body_are_413(client):
    zeros = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(zeros.compress(b"\0" * (1 << 20)) for _ in range(64)) + zeros.flush()
    assert len(bomb) < 100_000  # 64 MiB of zeros against an 8 MiB cap
    response = post(client, bomb)
    assert response.status_code == 413 and "decompressed payload exceeds" in response.json()["detail"]
    assert post(client, b"{" + b" " * (2 << 20) + b"}").status_code == 413


def test_unknown_job_or_run_is_404_with_a_message(client):
    response = client.get("/api/v1/spark/jobs/nope/runs")
    assert response.status_code == 404 and "nope" in response.json()["detail"]
    post(client, payload_bytes(JOB, RUN, [(1, b"{}")], payload_counter=1))
    for tail in ("events", "duration", "summary"):
        response = client.get(f"/api/v1/spark/jobs/{JOB}/runs/other/{tail}")
        assert response.status_code == 404 and "no run 'other'" in response.json()["detail"]


def test_scopes_ingest_and_read(client, services):
    reader = services.tokens.create("reader", ["read"])
    ingester = services.tokens.create("listener", ["ingest"])
    body = payload_bytes(JOB, RUN, [(1, b"{}")], payload_counter=1)
    assert post(client, body, Authorization="").status_code == 401
    assert post(client, body, Authorization=f"Bearer {reader}").status_code == 403
    assert client.post("/collect", content=body,
                       headers={"Authorization": "", "X-API-Key": ingester}).status_code == 200
    assert client.get("/api/v1/spark/jobs", headers={"Authorization": f"Bearer {ingester}"}).status_code == 403
    assert client.get("/api/v1/spark/jobs", headers={"Authorization": f"Bearer {reader}"}).status_code == 200


def test_openapi_documents_the_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/collect", "/api/v1/spark/jobs", "/api/v1/spark/jobs/{job_name}/runs/{run_id}/events",
                 "/api/v1/spark/jobs/{job_name}/runs/{run_id}/duration",
                 "/api/v1/spark/jobs/{job_name}/runs/{run_id}/summary"):
        assert path in paths


def test_a_dead_checking_process_is_replaced_and_loses_no_payload(tmp_path):
    import os
    import signal

    from fastapi.testclient import TestClient

    from stoker.app import create_app

    services = make_services(tmp_path / "data", ingest_processes=1)
    try:
        with TestClient(create_app(services), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as c:
            checker = c.app.state.payload_checker
            helpers = list(checker._pool._processes)
            assert len(helpers) == 1 and helpers[0] != os.getpid()
            assert post(c, payload_bytes(JOB, RUN, [(1000, START)], payload_counter=1)).status_code == 200
            os.kill(helpers[0], signal.SIGKILL)
            for counter in (2, 3):  # the first meets the broken pool, the second the new one
                answer = post(c, payload_bytes(JOB, RUN, [(1000 + counter, b'{"n":1}')],
                                               payload_counter=counter))
                assert answer.json() == {"status": "stored", "events": 1}
            assert helpers[0] not in checker._pool._processes
            assert len(c.get(f"/api/v1/spark/jobs/{JOB}/runs/{RUN}/events").text.splitlines()) == 3
    finally:
        services.close()
