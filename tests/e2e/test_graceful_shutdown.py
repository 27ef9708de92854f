"""SIGTERM to `stoker serve`: it stops claiming, lets running attempts finish (or hands them back),
stops its Spark session while the API still takes the session's last events, then stops the API.
The warm session's Spark application ends with its ApplicationEnd: its duration is final."""

from __future__ import annotations

import time

import pytest

from harness import Server, wait_terminal

pytestmark = [pytest.mark.e2e, pytest.mark.spark]


def test_sigterm_exits_quickly_and_the_session_app_ends_with_its_last_events(tmp_path):
    server = Server(tmp_path / "data").start()
    try:
        with server.client() as client:
            run = client.post("/api/v1/runs", json={"steps": [["range", 100], ["count"]]}).json()
            assert wait_terminal(client, [run["id"]], timeout=180)[0]["state"] == "SUCCEEDED"
            app_id = client.get(f"/api/v1/runs/{run['id']}").json()["attempts"][0]["spark_app_id"]
        assert app_id
        assert server.proc is not None
        started = time.monotonic()
        server.proc.terminate()
        server.proc.wait(60)
        took = time.monotonic() - started
        assert server.proc.returncode == 0, server.log_path.read_text()[-3000:]
    finally:
        server.stop()

    # Read what the API stored, from a server started again on the same data dir (no worker).
    again = Server(tmp_path / "data", worker=False).start()
    try:
        with again.client() as client:
            duration = client.get(f"/api/v1/spark/jobs/stoker-session/runs/{app_id}/duration").json()
            events = client.get(f"/api/v1/spark/jobs/stoker-session/runs/{app_id}/events").text.splitlines()
    finally:
        again.stop()
    assert '"SparkListenerApplicationEnd"' in events[-1], events[-3:]
    assert duration["state"] == "ended" and duration["duration_ms"] > 0
    print(f"SIGTERM to exit: {took:.2f} s")
    assert took <= 8.0, f"SIGTERM to exit took {took:.1f} s"
