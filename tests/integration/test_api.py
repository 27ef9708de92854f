"""The native API and the Speedy Gonzales API over HTTP, with the embedded worker running."""

from __future__ import annotations

from conftest import ADMIN_TOKEN, wait_for_state

NOOP = [["noop"]]


def test_healthz_needs_no_token(api):
    response = api.get("/healthz", headers={"Authorization": ""})
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_missing_and_wrong_token_401_wrong_scope_403(api, services):
    assert api.get("/api/v1/runs", headers={"Authorization": ""}).status_code == 401
    assert api.get("/api/v1/runs", headers={"Authorization": "Bearer nope"}).status_code == 401
    reader = services.tokens.create("reader", ["read"])
    response = api.post("/api/v1/runs", json={"steps": NOOP}, headers={"Authorization": f"Bearer {reader}"})
    assert response.status_code == 403 and "submit" in response.json()["detail"]
    assert api.get("/api/v1/runs", headers={"Authorization": f"Bearer {reader}"}).status_code == 200
    assert api.get("/api/v1/runs", headers={"Authorization": "", "X-API-Key": reader}).status_code == 200


def test_adhoc_run_goes_queued_to_succeeded(api):
    response = api.post("/api/v1/runs", json={"steps": NOOP})
    assert response.status_code == 201
    run = response.json()
    assert run["state"] in ("QUEUED", "RUNNING", "SUCCEEDED") and run["job"] == "adhoc"
    done = wait_for_state(api, run["id"])
    assert done["state"] == "SUCCEEDED"
    assert done["result"] == {"type": "noop"}
    for key in ("id", "state", "job", "attempts", "queued_at", "started_at", "finished_at", "result", "error"):
        assert key in done
    assert done["attempts"][0]["outcome"] == "succeeded"
    assert done["started_at"] and done["finished_at"]


def test_bad_pipeline_refused_and_nothing_queued(api):
    before = api.get("/api/v1/runs").json()["runs"]
    response = api.post("/api/v1/runs", json={"steps": [["range", 3], ["fitler", "id > 1"], ["collect"]]})
    assert response.status_code == 422
    assert "fitler" in str(response.json())
    no_action = api.post("/api/v1/runs", json={"steps": [["range", 3]]})
    assert no_action.status_code == 422
    escape = api.post("/api/v1/runs", json={"steps": [["read_csv", "../../etc/passwd"], ["collect"]]})
    assert escape.status_code == 400
    assert api.get("/api/v1/runs").json()["runs"] == before


def test_failing_run_keeps_error_and_log(api):
    api.post("/api/v1/jobs", json={"name": "flaky", "steps": [["fail", "it broke"]], "max_attempts": 2,
                                   "backoff": "constant", "backoff_seconds": 0})
    run = api.post("/api/v1/jobs/flaky/runs", json={}).json()
    done = wait_for_state(api, run["id"])
    assert done["state"] == "FAILED"
    assert "it broke" in done["error"]
    assert [a["outcome"] for a in done["attempts"]] == ["failed", "failed"]
    log = api.get(f"/api/v1/runs/{run['id']}/log")
    assert log.status_code == 200 and "it broke" in log.text


def test_idempotency_key_header_returns_same_run(api):
    first = api.post("/api/v1/runs", json={"steps": NOOP}, headers={"Idempotency-Key": "abc"})
    again = api.post("/api/v1/runs", json={"steps": NOOP}, headers={"Idempotency-Key": "abc"})
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]


def test_list_runs_filters_and_paginates(api):
    api.post("/api/v1/jobs", json={"name": "j1", "steps": NOOP, "max_concurrent_runs": 5})
    ids = [api.post("/api/v1/jobs/j1/runs", json={}).json()["id"] for _ in range(5)]
    page1 = api.get("/api/v1/runs", params={"job": "j1", "limit": 3}).json()
    assert [r["id"] for r in page1["runs"]] == ids[::-1][:3]
    page2 = api.get("/api/v1/runs", params={"job": "j1", "limit": 3, "cursor": page1["next_cursor"]}).json()
    assert [r["id"] for r in page2["runs"]] == ids[::-1][3:] and page2["next_cursor"] is None
    assert api.get("/api/v1/runs", params={"state": "BOGUS"}).status_code == 422


def test_cancel_running_sleep(api):
    run = api.post("/api/v1/runs", json={"steps": [["sleep", 30], ["noop"]]}).json()
    wait_for_state(api, run["id"], states=("RUNNING",))
    assert api.post(f"/api/v1/runs/{run['id']}/cancel").status_code == 202
    done = wait_for_state(api, run["id"], timeout=10)
    assert done["state"] == "CANCELLED" and done["attempts"][0]["outcome"] == "cancelled"
    assert api.post(f"/api/v1/runs/{run['id']}/cancel").status_code == 409


def test_job_params_are_substituted(api):
    api.post("/api/v1/jobs", json={"name": "nap", "steps": [["sleep", "{{seconds}}"], ["noop"]]})
    missing = api.post("/api/v1/jobs/nap/runs", json={})
    assert missing.status_code == 422 and "seconds" in missing.json()["detail"]
    run = api.post("/api/v1/jobs/nap/runs", json={"params": {"seconds": 0}}).json()
    assert run["steps"] == [["sleep", 0], ["noop"]]
    assert wait_for_state(api, run["id"])["state"] == "SUCCEEDED"


def test_batch_of_noops(api):
    api.post("/api/v1/jobs", json={"name": "many", "steps": NOOP, "max_concurrent_runs": 100})
    batch = api.post("/api/v1/batches", json={"job": "many", "count": 50}).json()
    assert len(batch["run_ids"]) == 50
    import time

    deadline = time.monotonic() + 30
    while not (status := api.get(f"/api/v1/batches/{batch['batch_id']}").json())["done"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status["states"] == {"SUCCEEDED": 50}


def test_functions_listed(api):
    functions = {f["name"]: f for f in api.get("/api/v1/functions").json()["functions"]}
    for name in ("range", "read_csv", "filter", "group_by", "collect", "write_parquet", "sql", "join"):
        assert name in functions and functions[name]["doc"] and functions[name]["signature"]


def test_attempt_past_its_timeout_is_timed_out(api):
    api.post("/api/v1/jobs", json={"name": "slowpoke", "steps": [["sleep", 30], ["noop"]],
                                   "timeout_seconds": 0.5, "max_attempts": 1})
    run = api.post("/api/v1/jobs/slowpoke/runs", json={}).json()
    done = wait_for_state(api, run["id"], timeout=15)
    assert done["state"] == "FAILED"
    assert done["attempts"][0]["outcome"] == "timed_out" and "timed out" in done["error"]


def test_retry_refusals_say_what_happened(api):
    # active: 409 with the URI of the attempt
    api.post("/api/v1/jobs", json={"name": "napper", "steps": [["sleep", 30], ["noop"]]})
    running = api.post("/api/v1/jobs/napper/runs", json={}).json()
    wait_for_state(api, running["id"], states=("RUNNING",))
    refused = api.post(f"/api/v1/runs/{running['id']}/retry")
    assert refused.status_code == 409 and refused.json()["active_attempt"].endswith("/attempts/1")
    assert api.get(refused.json()["active_attempt"]).json()["outcome"] is None
    api.post(f"/api/v1/runs/{running['id']}/cancel")
    # succeeded: 409 with the URI of the result
    ok = api.post("/api/v1/runs", json={"steps": NOOP}).json()
    wait_for_state(api, ok["id"])
    refused = api.post(f"/api/v1/runs/{ok['id']}/retry")
    assert refused.status_code == 409 and "succeeded" in refused.json()["detail"]
    assert api.get(refused.json()["results"]).json()["result"] == {"type": "noop"}
    # attempts used up: 409, recorded on the dead-letter list
    api.post("/api/v1/jobs", json={"name": "doomed", "steps": [["fail", "x"]], "max_attempts": 1})
    doomed = api.post("/api/v1/jobs/doomed/runs", json={}).json()
    wait_for_state(api, doomed["id"])
    refused = api.post(f"/api/v1/runs/{doomed['id']}/retry")
    assert refused.status_code == 409 and "used all 1 attempts" in refused.json()["detail"]
    kinds = [d["kind"] for d in api.get(refused.json()["dead_letters"]).json()["dead_letters"]]
    assert sorted(kinds) == ["exhausted", "retry_refused"]
    # cancelled with attempts left: re-queued
    assert wait_for_state(api, running["id"])["state"] == "CANCELLED"
    cancelled = api.post(f"/api/v1/runs/{running['id']}/retry")
    assert cancelled.status_code == 200 and cancelled.json()["state"] in ("QUEUED", "RUNNING")
    api.post(f"/api/v1/runs/{running['id']}/cancel")


def test_worker_shutdown_requeues_what_it_could_not_finish(services):
    """A stopping worker reports unfinished attempts `lost`: the run goes back to the queue."""
    from fastapi.testclient import TestClient

    from stoker.app import Background, create_app

    background = Background(services)
    client = TestClient(create_app(services, background=background),
                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with client:
        run = client.post("/api/v1/runs", json={"steps": [["sleep", 30], ["noop"]]}).json()
        wait_for_state(client, run["id"], states=("RUNNING",))
        background.worker.stop(grace_seconds=0.2)
        after = client.get(f"/api/v1/runs/{run['id']}").json()
    assert after["state"] == "QUEUED"
    assert after["attempts"][0]["outcome"] == "lost" and "shut down" in after["attempts"][0]["error"]

