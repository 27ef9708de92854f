"""The Sate API as seed-apis.md §5 describes it, with the gateway rules."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from conftest import ADMIN_TOKEN


def wait_results(api, request_id, n, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        results = api.get(f"/requests/{request_id}/results").json()["results"]
        if len(results) >= n:
            return results
        assert time.monotonic() < deadline, f"no {n} results for {request_id}"
        time.sleep(0.02)


def test_ping_pong(api):
    created = api.post("/requests", json={"payload": {"message": "ping"}})
    assert created.status_code == 201
    req = created.json()
    assert req["payload"] == {"message": "ping"} and len(req["id"]) == 36
    execution = api.post(f"/requests/{req['id']}/executions", json={"force_error": False})
    assert execution.status_code == 201
    ex = execution.json()
    assert ex["force_error"] is False and ex["processing_request"] == req
    assert len(ex["creation_date"]) == len("2020-11-07 16:31:58.103057")
    [result] = wait_results(api, req["id"], 1)
    assert result["is_success"] is True and result["outputs"] == {"message": "pong"}
    assert result["id"] == ex["id"] and result["execution"]["id"] == ex["id"]
    assert result["processing_total_seconds"] >= 0
    assert api.get(f"/executions/{ex['id']}/results").json()["results"] == [result]
    # succeeded once: never again, and told where the results are
    again = api.post(f"/requests/{req['id']}/executions", json={"force_error": False})
    assert again.status_code == 409 and f"/requests/{req['id']}/results" in again.json()["message"]


def test_forced_failures_then_dead_letter(api):
    req = api.post("/requests", json={"payload": {"message": "ping"}}).json()
    for n in range(1, 4):
        assert api.post(f"/requests/{req['id']}/executions", json={"force_error": True}).status_code == 201
        results = wait_results(api, req["id"], n)
        assert results[-1]["is_success"] is False and results[-1]["outputs"] == {}
    for _ in range(2):
        refused = api.post(f"/requests/{req['id']}/executions", json={"force_error": False})
        assert refused.status_code == 409 and "dead-letter" in refused.json()["message"]
    run_id = api.get("/api/v1/runs", params={"job": "sate"}).json()["runs"][0]["id"]
    letters = api.get("/api/v1/dead-letters", params={"run": run_id}).json()["dead_letters"]
    assert [d["kind"] for d in letters].count("retry_refused") == 2
    assert "exhausted" in [d["kind"] for d in letters]


def test_failed_then_retried_succeeds(api):
    req = api.post("/requests", json={"payload": {"message": "ping"}}).json()
    api.post(f"/requests/{req['id']}/executions", json={"force_error": True})
    wait_results(api, req["id"], 1)
    api.post(f"/requests/{req['id']}/executions", json={"force_error": False})
    results = wait_results(api, req["id"], 2)
    assert [r["is_success"] for r in results] == [False, True]


def test_concurrent_executions_one_wins(api):
    api.post("/api/v1/jobs", json={"name": "slow", "steps": [["sleep", 1], ["noop"]]})
    req = api.post("/requests", json={"payload": {"job": "slow"}}).json()
    client_headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def execute(_):
        return api.post(f"/requests/{req['id']}/executions", json={"force_error": False},
                        headers=client_headers).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(execute, range(16)))
    assert codes.count(201) == 1 and codes.count(409) == 15


def test_errors_in_sate_shape(api):
    missing = api.post("/requests/00000000-0000-0000-0000-000000000000/executions", json={"force_error": False})
    assert missing.status_code == 404 and "message" in missing.json()
    assert api.get("/requests/nope/results").status_code == 404
    assert api.get("/executions/nope/results").status_code == 404
    bad = api.post("/requests", json={"nopayload": 1})
    assert bad.status_code == 422 and "payload" in bad.json()["message"]
    unknown_fn = api.post("/requests", json={"payload": {"steps": [["nope"]]}})
    assert unknown_fn.status_code == 422 and "nope" in unknown_fn.json()["message"]


def test_seed_examples_without_a_token_when_opted_in(tmp_path):
    """With STOKER_ANONYMOUS_SCOPES the seed's curl examples work as written (no header); without
    it, or with a wrong token, they are refused."""
    from fastapi.testclient import TestClient

    from conftest import make_services
    from stoker.app import Background, create_app

    services = make_services(tmp_path / "data", anonymous_scopes=("submit", "read"))
    with TestClient(create_app(services, background=Background(services))) as client:
        req = client.post("/requests", json={"payload": {"message": "ping"}})
        assert req.status_code == 201
        assert client.post(f"/requests/{req.json()['id']}/executions", json={"force_error": False}).status_code == 201
        assert wait_results(client, req.json()["id"], 1)[0]["outputs"] == {"message": "pong"}
        assert client.get("/api/v1/webhooks").status_code == 401  # admin is not granted
        assert client.get("/requests/x/results", headers={"Authorization": "Bearer wrong"}).status_code == 401
    services.close()


def test_no_anonymous_access_by_default(api):
    assert api.post("/requests", json={"payload": {}}, headers={"Authorization": ""}).status_code == 401
