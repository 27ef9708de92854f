"""Proof by force: the run guarantees under real concurrency and SIGKILL, on SQLite and PostgreSQL,
with real `stoker serve` and `stoker worker` processes."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from harness import TOKEN, Server, Worker, wait_terminal

pytestmark = pytest.mark.e2e

SLEEPY = [["sleep", 0.4], ["noop"]]


def test_50_concurrent_submits_one_idempotency_key(tmp_path, backend_url):
    server = Server(tmp_path / "data", backend_url, worker=False).start()
    try:
        def submit(_):
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
                r = c.post("/api/v1/runs", json={"steps": [["noop"]]}, headers={"Idempotency-Key": "same"})
                return r.status_code, r.json()["id"]

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(submit, range(50)))
        assert len({run_id for _, run_id in answers}) == 1
        assert sorted(code for code, _ in answers) == [200] * 49 + [201]
        with server.client() as c:
            assert len(c.get("/api/v1/runs", params={"job": "adhoc"}).json()["runs"]) == 1
    finally:
        server.stop()


def test_50_concurrent_retries_one_new_attempt(tmp_path, backend_url):
    server = Server(tmp_path / "data", backend_url, worker=False).start()
    try:
        with server.client() as c:
            c.post("/api/v1/jobs", json={"name": "manual", "steps": [["noop"]], "auto_retry": False,
                                         "max_attempts": 3})
            run = c.post("/api/v1/jobs/manual/runs", json={}).json()
            [first] = c.post("/api/v1/worker/claim", json={"worker_id": "w"}).json()["attempts"]
            assert c.post(first["links"]["finish"], json={"outcome": "failed", "error": "x"}).json() == \
                {"attempt_id": first["attempt_id"], "run_state": "FAILED"}

        def retry(_):
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
                return c.post(f"/api/v1/runs/{run['id']}/retry").status_code

        with ThreadPoolExecutor(16) as pool:
            codes = Counter(pool.map(retry, range(50)))
        assert codes[200] == 1 and codes[409] == 49
        with server.client() as c:
            claimed = c.post("/api/v1/worker/claim", json={"worker_id": "w", "limit": 10}).json()["attempts"]
            assert [a["number"] for a in claimed] == [2]
            assert c.post("/api/v1/worker/claim", json={"worker_id": "w"}).json()["attempts"] == []
    finally:
        server.stop()


def test_max_concurrent_runs_with_four_workers(tmp_path, backend_url):
    data = tmp_path / "data"
    server = Server(data, backend_url, worker=False).start()
    workers = [Worker(data, backend_url, name=f"w{i}").start() for i in range(4)]
    try:
        with server.client() as c:
            c.post("/api/v1/jobs", json={"name": "one-at-a-time", "steps": [["sleep", 0.1], ["noop"]],
                                         "max_concurrent_runs": 1})
            ids = [c.post("/api/v1/jobs/one-at-a-time/runs", json={}).json()["id"] for _ in range(20)]
            runs = wait_terminal(c, ids, timeout=180)
        assert all(r["state"] == "SUCCEEDED" for r in runs)
        intervals = sorted((a["started_at"], a["finished_at"], a["worker_id"])
                           for r in runs for a in r["attempts"])
        for (_, end, _), (start, _, _) in itertools.pairwise(intervals):
            assert start >= end, f"two runs of the job were RUNNING at once: {intervals}"
        assert len({w for _, _, w in intervals}) > 1, "expected the work to spread over workers"
    finally:
        for w in workers:
            w.stop()
        server.stop()


def test_worker_sigkill_repeatedly(tmp_path, backend_url):
    data = tmp_path / "data"
    server = Server(data, backend_url, worker=False).start()
    rng = random.Random(1)
    worker = Worker(data, backend_url, name="victim-0").start()
    try:
        with server.client() as c:
            c.post("/api/v1/jobs", json={"name": "victim", "steps": SLEEPY, "max_concurrent_runs": 3,
                                         "max_attempts": 10, "backoff_seconds": 0})
            ids = [c.post("/api/v1/jobs/victim/runs", json={}).json()["id"] for _ in range(12)]
            for i in range(1, 5):
                time.sleep(rng.uniform(1.5, 3.0))  # long enough to be mid-attempt (JVM-free sleeps)
                worker.kill()
                worker = Worker(data, backend_url, name=f"victim-{i}").start()
            runs = wait_terminal(c, ids, timeout=180)
        outcomes = Counter(a["outcome"] for r in runs for a in r["attempts"])
        assert all(r["state"] == "SUCCEEDED" for r in runs), [r["state"] for r in runs]
        for r in runs:
            assert [a["outcome"] for a in r["attempts"]].count("succeeded") == 1
            assert r["attempts"][-1]["outcome"] == "succeeded"
        assert outcomes["lost"] >= 1, outcomes  # the killed attempts are recorded as lost
    finally:
        worker.stop()
        server.stop()


def test_api_sigkill_keeps_every_acknowledged_submission(tmp_path, backend_url):
    data = tmp_path / "data"
    server = Server(data, backend_url, worker=False).start()
    acknowledged: list[str] = []
    stop = threading.Event()

    def submit_forever() -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5) as c:
            while not stop.is_set():
                try:
                    r = c.post("/api/v1/runs", json={"steps": [["noop"]]})
                except httpx.HTTPError:
                    continue
                if r.status_code < 300:
                    acknowledged.append(r.json()["id"])

    threads = [threading.Thread(target=submit_forever) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    server.kill()
    stop.set()
    for t in threads:
        t.join()
    assert len(acknowledged) > 10
    restarted = Server(data, backend_url, worker=False)
    restarted.port, restarted.url = server.port, server.url
    restarted.args = server.args
    restarted.start()
    try:
        with restarted.client() as c:
            for run_id in acknowledged:
                assert c.get(f"/api/v1/runs/{run_id}").status_code == 200, run_id
    finally:
        restarted.stop()


def test_stale_worker_is_fenced_over_http(tmp_path):
    server = Server(tmp_path / "data", None, worker=False).start()
    try:
        with server.client() as c:
            c.post("/api/v1/jobs", json={"name": "fence", "steps": [["noop"]], "backoff_seconds": 0})
            run = c.post("/api/v1/jobs/fence/runs", json={}).json()
            [stale] = c.post("/api/v1/worker/claim", json={"worker_id": "old", "lease_seconds": 1}).json()["attempts"]
            time.sleep(2.5)  # lease expires; the server's reaper marks the attempt lost
            [fresh] = c.post("/api/v1/worker/claim", json={"worker_id": "new", "wait_seconds": 5}).json()["attempts"]
            assert fresh["run_id"] == run["id"] and fresh["number"] == 2
            late = c.post(stale["links"]["finish"], json={"outcome": "succeeded", "result": {"from": "stale"}})
            assert late.status_code == 409 and "lost" in late.json()["detail"]
            assert c.post(stale["links"]["heartbeat"], json={}).status_code == 409
            ok = c.post(fresh["links"]["finish"], json={"outcome": "succeeded", "result": {"from": "fresh"}})
            assert ok.json()["run_state"] == "SUCCEEDED"
            done = c.get(f"/api/v1/runs/{run['id']}").json()
            assert done["result"] == {"from": "fresh"}
            assert [a["outcome"] for a in done["attempts"]] == ["lost", "succeeded"]
    finally:
        server.stop()
