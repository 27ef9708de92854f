"""`stoker worker --remote`: a worker process with only an API token runs a Spark pipeline, and its
Spark app streams its listener events to Stoker with that token."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from harness import Server, StokerProcess, wait_terminal

pytestmark = [pytest.mark.e2e, pytest.mark.spark]


def test_a_remote_worker_runs_a_spark_pipeline_without_the_database(tmp_path):
    data = tmp_path / "data"
    server = Server(data, None, worker=False).start()
    worker = None
    try:
        token = subprocess.run(
            [sys.executable, "-m", "stoker.cli", "token", "create", "remote", "--scope", "worker",
             "--scope", "ingest", "--data-dir", str(data)],
            check=True, capture_output=True, text=True).stdout.strip()
        worker_dir = tmp_path / "worker-data"
        (worker_dir / "files").mkdir(parents=True)
        (worker_dir / "files" / "people.csv").write_text("name,age\nana,34\nbo,28\ncy,41\n")
        worker = StokerProcess(["worker", "--remote", server.url, "--token", token,
                                "--worker-id", "far-away"], worker_dir, None, log_name="remote-worker")
        worker.start()
        assert not (worker_dir / "stoker.db").exists()  # it never opens a database
        with server.client() as client:
            run = client.post("/api/v1/runs", json={"steps": [
                ["read_csv", "people.csv", {"header": True, "inferSchema": True}],
                ["filter", "age > 30"], ["count"]]}).json()
            [done] = wait_terminal(client, [run["id"]], timeout=180)
            assert done["state"] == "SUCCEEDED", (done["error"], worker.log_path.read_text()[-2000:])
            assert done["result"]["count"] == 2
            attempt = done["attempts"][0]
            assert attempt["worker_id"] == "far-away" and attempt["spark_app_id"]
            deadline = time.monotonic() + 60
            while True:  # the listener posts with the worker's token, under the session's job name
                events = client.get(f"/api/v1/spark/jobs/stoker-session/runs/{attempt['spark_app_id']}/events")
                if events.status_code == 200 and "SparkListenerJobStart" in events.text:
                    break
                assert time.monotonic() < deadline, "the remote worker's Spark events never arrived"
                time.sleep(0.5)
        assert not (worker_dir / "stoker.db").exists()
    finally:
        if worker is not None:
            worker.stop()
        server.stop()
