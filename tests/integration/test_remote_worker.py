"""A worker that holds only an API token (worker/remote.py) against a real server over HTTP."""

from __future__ import annotations

import time

import httpx
import pytest
from test_sinks_support import LiveServer

from conftest import wait_for_state
from stoker.config import Settings

WORKER_TOKEN = "stk_test_remote_worker"


@pytest.fixture
def server(tmp_path):
    srv = LiveServer(tmp_path / "server", embedded_worker=False)
    srv.services.tokens.ensure("remote worker", ["worker"], WORKER_TOKEN)
    yield srv
    srv.close()


@pytest.fixture
def client(server):
    with server.client() as c:
        yield c


@pytest.fixture
def remote(server, tmp_path):
    from stoker.worker.remote import remote_worker

    settings = Settings(data_dir=tmp_path / "worker", lease_seconds=5.0, heartbeat_seconds=0.5,
                        worker_concurrency=2)
    worker = remote_worker(settings, server.url, WORKER_TOKEN, worker_id="remote-1")
    worker.start()
    yield worker
    worker.stop()


def test_runs_of_every_kind_end_through_the_api(server, client, remote):
    instant = [client.post("/api/v1/runs", json={"steps": [["noop"]]}).json()["id"] for _ in range(5)]
    slow = client.post("/api/v1/runs", json={"steps": [["sleep", 0.3], ["noop"]]}).json()["id"]
    client.post("/api/v1/jobs", json={"name": "doomed", "steps": [["fail", "boom"]],
                                      "max_attempts": 2, "backoff": "constant", "backoff_seconds": 0.1})
    doomed = client.post("/api/v1/jobs/doomed/runs", json={}).json()["id"]
    for run_id in [*instant, slow]:
        done = wait_for_state(client, run_id, timeout=30)
        assert done["state"] == "SUCCEEDED"
        assert done["attempts"][0]["worker_id"] == "remote-1"
        assert done["attempts"][0]["executor"] == "inline"  # annotated over HTTP
    failed = wait_for_state(client, doomed, timeout=30)
    assert failed["state"] == "FAILED" and len(failed["attempts"]) == 2 and "boom" in failed["error"]
    assert "boom" in client.get(f"/api/v1/runs/{doomed}/log").text  # the log came with the finish


def test_cancel_reaches_a_remote_attempt_with_its_heartbeat(server, client, remote):
    run_id = client.post("/api/v1/runs", json={"steps": [["sleep", 30], ["noop"]]}).json()["id"]
    wait_for_state(client, run_id, states=("RUNNING",), timeout=30)
    client.post(f"/api/v1/runs/{run_id}/cancel")
    done = wait_for_state(client, run_id, timeout=30)
    assert done["state"] == "CANCELLED" and done["attempts"][0]["outcome"] == "cancelled"


def test_secrets_reach_the_remote_worker_for_its_attempt_only(server, client):
    from stoker.worker.remote import HttpBackend

    backend = HttpBackend(server.url, WORKER_TOKEN, claim_wait_seconds=1)
    try:
        s3 = {"access_key": "AKIAREMOTE", "secret_key": "remote-secret"}
        client.post("/api/v1/runs", json={"steps": [["sleep", 1], ["noop"]], "options": {"s3": s3}})
        [claimed] = backend.claim("w", lane_limits={"spark": 1}, lease_seconds=5, executor_by_lane={})
        assert backend.secrets_of(claimed).sections == {"s3": s3}
        assert "s3" not in claimed.options
        from stoker.core.states import Outcome
        from stoker.store.queue import Ending

        assert backend.finish(Ending(claimed.attempt_id, Outcome.SUCCEEDED, result={"ok": 1})) == "SUCCEEDED"
        assert backend.secrets_of(claimed).sections == {}  # forgotten once the attempt ended
    finally:
        backend.close()


def test_a_fenced_remote_finish_changes_nothing(server, client):
    from stoker.core.errors import Fenced
    from stoker.core.states import Outcome
    from stoker.store.queue import Ending
    from stoker.worker.remote import HttpBackend

    backend = HttpBackend(server.url, WORKER_TOKEN, claim_wait_seconds=1)
    try:
        run_id = client.post("/api/v1/runs", json={"steps": [["sleep", 1], ["noop"]]}).json()["id"]
        [claimed] = backend.claim("w", lane_limits={"spark": 1}, lease_seconds=1, executor_by_lane={})
        time.sleep(2.5)  # the lease expires; the server's reaper ends the attempt as lost
        assert backend.heartbeat([claimed.attempt_id], lease_seconds=5) == {}
        with pytest.raises(Fenced):
            backend.finish(Ending(claimed.attempt_id, Outcome.SUCCEEDED))
        run = client.get(f"/api/v1/runs/{run_id}").json()
        assert run["attempts"][0]["outcome"] == "lost" and run["state"] != "SUCCEEDED"
    finally:
        backend.close()


def test_a_token_without_the_worker_scope_claims_nothing(server, client):
    from stoker.worker.remote import HttpBackend

    server.services.tokens.ensure("reader", ["read"], "stk_test_only_reads")
    backend = HttpBackend(server.url, "stk_test_only_reads", claim_wait_seconds=0)
    try:
        with pytest.raises(httpx.HTTPStatusError) as refused:
            backend.claim("w", lane_limits={"instant": 10}, lease_seconds=5, executor_by_lane={})
        assert refused.value.response.status_code == 403
    finally:
        backend.close()


def test_a_remote_worker_gets_its_runs_cluster_with_the_claim(server, client):
    """A remote worker has no database: the claim carries the run's cluster record, and the worker
    decides from it as a worker with database access would (tests/unit/test_clusters_units.py)."""
    import dataclasses

    from stoker.clusters.products import Products
    from stoker.store.clusters import ClusterStore, ProductStore
    from stoker.worker.loop import EXECUTOR_BY_LANE
    from stoker.worker.remote import HttpBackend

    db = server.services.db
    Products(ProductStore(db)).ensure_builtins()
    store = ClusterStore(db)
    cid = store.register(owner="alice", product="spark-standalone", version="4.3", size=1, options={},
                         spec={"nodes": {}}, orchestrator="local", needs=(1, 512)).id
    for to, source in [("scheduling", "registered"), ("scheduled", "scheduling"), ("configuring", "scheduled"),
                       ("configured", "configuring")]:
        assert store.transition(cid, to, allowed_from=(source,))
    assert store.transition(cid, "ready", allowed_from=("configured",), master_url="spark://127.0.0.1:7099")
    on_cluster = client.post("/api/v1/runs", json={"steps": [["range", 3], ["count"]],
                                                   "options": {"cluster": cid}}).json()["id"]
    backend = HttpBackend(server.url, WORKER_TOKEN, claim_wait_seconds=0)
    try:
        (claimed,) = backend.claim("remote-c", lane_limits={"spark": 1, "instant": 1}, lease_seconds=30,
                                   executor_by_lane=EXECUTOR_BY_LANE)
        assert claimed.run_id == on_cluster
        target = backend.target_of(claimed)
        assert target is not None and (target.master, target.cluster_id) == ("spark://127.0.0.1:7099", cid)
        assert backend.target_of(dataclasses.replace(claimed, options={})) is None  # the worker's own Spark
    finally:
        backend.close()


def test_a_remote_worker_given_several_replicas_goes_on_with_the_next_when_one_cannot_be_reached(server, client):
    from harness import free_port
    from stoker.core.states import Outcome
    from stoker.store.queue import Ending
    from stoker.worker.remote import HttpBackend

    dead = f"http://127.0.0.1:{free_port()}"  # a replica that is gone: nothing listens there
    backend = HttpBackend(f"{dead}, {server.url}", WORKER_TOKEN, claim_wait_seconds=1)
    try:
        run_id = client.post("/api/v1/runs", json={"steps": [["sleep", 1], ["noop"]]}).json()["id"]
        [claimed] = backend.claim("w", lane_limits={"spark": 1}, lease_seconds=5, executor_by_lane={})
        assert claimed.run_id == run_id and backend.url == server.url.rstrip("/")  # it stays on the live one
        assert set(backend.heartbeat([claimed.attempt_id], lease_seconds=5)) == {claimed.attempt_id}
        assert backend.finish(Ending(claimed.attempt_id, Outcome.SUCCEEDED, result={"ok": 1})) == "SUCCEEDED"
    finally:
        backend.close()
    only_dead = HttpBackend(dead, WORKER_TOKEN, claim_wait_seconds=0)
    try:
        with pytest.raises(httpx.TransportError):
            only_dead.claim("w", lane_limits={"spark": 1}, lease_seconds=5, executor_by_lane={})
    finally:
        only_dead.close()
