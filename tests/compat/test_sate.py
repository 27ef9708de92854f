"""The Sate API driven as its clients drive it (the original's README and gateway code are the
reference): the seed's requests as written, its answers' shapes, its gateway rules, its errors."""

from __future__ import annotations

import threading
import time

import pytest

from conftest import ADMIN_TOKEN

# The README's example request, extra parameters and all.
README_PAYLOAD = {"message": "ping", "parameterA": "valueA", "parameterB": False,
                  "parameterC": ["abc", "xyz"], "parameterD": {"d1": 1, "d2": 2}}
SATE_TIME = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$"


@pytest.fixture
def backend_api(tmp_path, backend_url):
    """An authenticated TestClient with the embedded worker, on SQLite or a fresh PostgreSQL."""
    from fastapi.testclient import TestClient

    from conftest import make_services
    from stoker.app import Background, create_app

    services = make_services(tmp_path / "data", database_url=backend_url, lease_seconds=5.0,
                             heartbeat_seconds=1.0, reap_interval_seconds=0.5)
    app = create_app(services, background=Background(services, embedded_worker=True))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        yield client
    services.close()


def wait_results(api, request_id, n, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        results = api.get(f"/requests/{request_id}/results").json()["results"]
        if len(results) >= n:
            return results
        assert time.monotonic() < deadline, f"no {n} results for {request_id}"
        time.sleep(0.02)


def new_request(api, payload=README_PAYLOAD, **extra):
    created = api.post("/requests", json={"payload": payload, **extra})
    assert created.status_code == 201, created.text
    return created.json()


def execute(api, request_id, **body):
    return api.post(f"/requests/{request_id}/executions", json=body)


def test_readme_walkthrough(api):
    import re

    req = new_request(api, comment="kept")
    assert req["payload"] == README_PAYLOAD and req["comment"] == "kept" and len(req["id"]) == 36
    created = execute(api, req["id"], force_error=False, note={"n": 1})
    assert created.status_code == 201
    ex = created.json()
    assert ex["force_error"] is False and ex["note"] == {"n": 1} and ex["processing_request"] == req
    assert re.match(SATE_TIME, ex["creation_date"])
    [result] = wait_results(api, req["id"], 1)
    assert result["is_success"] is True and result["outputs"] == {"message": "pong"}
    assert result["execution"] == ex  # the execution as created, extras and all
    assert result["id"] != ex["id"] and len(result["id"]) == 36  # a result has its own id
    assert re.match(SATE_TIME, result["processing_start_time"]) and result["processing_total_seconds"] >= 0
    assert api.get(f"/executions/{ex['id']}/results").json()["results"] == [result]
    assert api.get(f"/requests/{req['id']}/results").json()["results"] == [result]  # stable ids
    again = execute(api, req["id"], force_error=False)
    assert again.status_code == 409 and f"/requests/{req['id']}/results" in again.json()["message"]


@pytest.mark.parametrize("payload", [{"anything": "at all"}, "a string", [1, 2, 3], 42, None, {}])
def test_any_payload_is_processed_by_the_built_in_processor(api, payload):
    req = new_request(api, payload)
    assert req["payload"] == payload
    assert execute(api, req["id"], force_error=False).status_code == 201
    [result] = wait_results(api, req["id"], 1)
    assert result["is_success"] is True and result["outputs"] == {"message": "pong"}


def test_force_error_by_truthiness(api):
    req = new_request(api)
    for n, value in enumerate(["yes", 1], start=1):  # truthy: the processor fails on purpose
        created = execute(api, req["id"], force_error=value)
        assert created.status_code == 201 and created.json()["force_error"] == value  # echoed as sent
        result = wait_results(api, req["id"], n)[-1]
        assert result["is_success"] is False and result["outputs"] == {}
        assert result["execution"]["force_error"] == value
    for value in (0, "", None, []):  # falsy: an honest execution
        other = new_request(api)
        assert execute(api, other["id"], force_error=value).status_code == 201
        assert wait_results(api, other["id"], 1)[0]["outputs"] == {"message": "pong"}
    assert execute(api, req["id"], force_error=None).status_code == 201  # a third try succeeds
    assert [r["is_success"] for r in wait_results(api, req["id"], 3)] == [False, False, True]


def test_exhausted_request_refuses_and_dead_letters_every_execution_whatever_its_body(api):
    req = new_request(api)
    last = None
    for n in range(1, 4):
        last = execute(api, req["id"], force_error=True).json()
        wait_results(api, req["id"], n)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    bodies = [b'{"force_error": false}', b"{not json", b"", b"[1]", b"{}"]
    for body in bodies:  # the gateway rules run first: a refused execution is refused, not a 422
        refused = api.post(f"/requests/{req['id']}/executions", content=body, headers=headers)
        assert refused.status_code == 409, (body, refused.text)
        assert "dead-letter" in refused.json()["message"] and set(refused.json()) == {"message"}
    letters = api.get("/api/v1/dead-letters", params={"request": req["id"]}).json()["dead_letters"]
    assert len(letters) == len(bodies) and {d["kind"] for d in letters} == {"retry_refused"}
    for letter in letters:  # Sate's identifiers, and what its gateway published: the last execution
        assert letter["request_id"] == req["id"] and letter["seed_message"] == last
    run_id = letters[0]["run_id"]
    by_run = api.get("/api/v1/dead-letters", params={"run": run_id}).json()["dead_letters"]
    assert sorted(d["kind"] for d in by_run) == ["exhausted"] + ["retry_refused"] * len(bodies)
    exhausted = next(d for d in by_run if d["kind"] == "exhausted")
    assert exhausted["request_id"] is None  # the run's own end, not a refused execution
    assert len(wait_results(api, req["id"], 3)) == 3  # nothing ran


def test_failed_then_retried_succeeds(api):
    req = new_request(api)
    execute(api, req["id"], force_error=True)
    wait_results(api, req["id"], 1)
    execute(api, req["id"], force_error=False)
    assert [r["is_success"] for r in wait_results(api, req["id"], 2)] == [False, True]


def test_eight_simultaneous_executions_exactly_one_passes(backend_api):
    """The original checked, then acted, across services, and let all eight through."""
    api = backend_api
    api.post("/api/v1/jobs", json={"name": "slow", "steps": [["sleep", 1], ["noop"]]})
    req = new_request(api, {"job": "slow"})
    barrier = threading.Barrier(8)
    codes: list[int] = []

    def one() -> None:
        barrier.wait()
        codes.append(execute(api, req["id"], force_error=False).status_code)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201] + [409] * 7
    assert len(wait_results(api, req["id"], 1)) == 1
    time.sleep(0.2)
    assert len(api.get(f"/requests/{req['id']}/results").json()["results"]) == 1


def test_every_error_answers_a_message(api):
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    unknown = "00000000-0000-0000-0000-000000000000"
    cases = [
        (api.post("/requests", content=b"{not json", headers=headers), 422, "JSON"),
        (api.post("/requests", content=b"", headers=headers), 422, "missing"),
        (api.post("/requests", json=["payload"]), 422, "object"),
        (api.post("/requests", json={"nopayload": 1}), 422, "payload"),
        (api.post("/requests", json={"payload": {"steps": [["nope"]]}}), 422, "nope"),
        (api.post("/requests", json={"payload": {"job": "no-such-job"}}), 404, "no-such-job"),
        (execute(api, unknown, force_error=False), 404, unknown),
        (api.get(f"/requests/{unknown}/results"), 404, unknown),
        (api.get("/executions/nope/results"), 404, "nope"),
        (api.post("/requests", json={"payload": {}}, headers={"Authorization": ""}), 401, "token"),
    ]
    req = new_request(api)
    cases += [
        (api.post(f"/requests/{req['id']}/executions", content=b"{not json", headers=headers), 422, "JSON"),
        (api.post(f"/requests/{req['id']}/executions", content=b"", headers=headers), 422, "missing"),
        (api.post(f"/requests/{req['id']}/executions", json=[True]), 422, "object"),
        (execute(api, req["id"], note="no force_error"), 422, "force_error"),
    ]
    for response, status, text in cases:
        assert response.status_code == status, (status, response.text)
        assert set(response.json()) == {"message"} and text in response.json()["message"], response.text
    assert api.get(f"/requests/{req['id']}/results").json() == {"results": []}  # nothing was created
    # Registered for the Sate routes only: the native API keeps its own error shape.
    native = api.post("/api/v1/runs", content=b"{not json", headers=headers)
    assert native.status_code == 422 and "detail" in native.json()


def test_pipeline_payload_secrets_are_sealed(api, services):
    secret = {"aws_access_key_id": "AKIASATE", "aws_secret_access_key": "SATESECRET"}
    req = new_request(api, {"steps": [["noop"]], "options": {"s3": secret}})
    assert "SATESECRET" not in str(req) and req["payload"]["options"]["s3"] == "***redacted***"
    execute(api, req["id"], force_error=False)
    [result] = wait_results(api, req["id"], 1)
    assert result["is_success"] is True and "SATESECRET" not in str(result)
    from stoker.store.tables import sate_requests

    with services.db.read() as conn:
        row = conn.execute(sate_requests.select()).one()
    assert "SATESECRET" not in str(row.payload) and row.secrets  # sealed at rest


def test_job_payload_runs_the_job_with_the_payload_as_parameters(api):
    api.post("/api/v1/jobs", json={"name": "count-to", "steps": [["range", "{{n}}"], ["count"]]})
    req = new_request(api, {"job": "count-to", "n": 5})
    assert execute(api, req["id"], force_error=False).status_code == 201
    [result] = wait_results(api, req["id"], 1, timeout=120)
    assert result["is_success"] is True and result["outputs"]["count"] == 5, result


def test_seed_examples_without_a_token_when_opted_in(tmp_path):
    """With STOKER_ANONYMOUS_SCOPES the seed's requests work as written (no header); without it, or
    with a wrong token, they are refused."""
    from fastapi.testclient import TestClient

    from conftest import make_services
    from stoker.app import Background, create_app

    services = make_services(tmp_path / "data", anonymous_scopes=("submit", "read"))
    with TestClient(create_app(services, background=Background(services))) as client:
        req = client.post("/requests", json={"payload": README_PAYLOAD})
        assert req.status_code == 201
        assert client.post(f"/requests/{req.json()['id']}/executions", json={"force_error": False}).status_code == 201
        assert wait_results(client, req.json()["id"], 1)[0]["outputs"] == {"message": "pong"}
        # Webhooks are an owner's: anonymous requests act as their scopes' role (submit: an editor).
        assert client.get("/api/v1/webhooks").status_code == 403
        wrong = client.get("/requests/x/results", headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401 and "message" in wrong.json()
    services.close()


def test_no_anonymous_access_by_default(api):
    assert api.post("/requests", json={"payload": {}}, headers={"Authorization": ""}).status_code == 401


def test_a_database_outage_answers_a_message_too(api, monkeypatch):
    """The app's own handlers decide the status and headers (503, Retry-After); Sate's shape wraps them."""
    import sqlalchemy as sa

    from stoker.store.sate import SateStore

    def down(*_args, **_kwargs):
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("could not connect to server"))

    monkeypatch.setattr(SateStore, "request", down)
    response = api.get("/requests/00000000-0000-0000-0000-000000000000/results")
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert set(response.json()) == {"message"}
