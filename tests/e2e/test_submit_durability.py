"""Every run whose submit was acknowledged (2xx) exists after the API is killed with SIGKILL in the
middle of a burst of group-committed submits, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from harness import Server

pytestmark = pytest.mark.e2e


def test_acknowledged_submits_survive_a_sigkill_mid_burst(tmp_path, backend_url):
    server = Server(tmp_path / "data", backend_url, worker=False).start()
    acknowledged: list[str] = []
    lock = threading.Lock()

    def burst() -> None:
        with httpx.Client(base_url=server.url, headers=server.client().headers, timeout=10) as client:
            while True:
                try:
                    response = client.post("/api/v1/runs", json={"steps": [["noop"]]})
                except httpx.HTTPError:
                    return  # the server is gone
                if response.status_code == 201:
                    with lock:
                        acknowledged.append(response.json()["id"])

    threads = [threading.Thread(target=burst) for _ in range(16)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30  # a loaded machine may take a while to acknowledge the first ones
    while len(acknowledged) < 100 and time.monotonic() < deadline:
        time.sleep(0.1)
    server.kill()
    for thread in threads:
        thread.join(30)
    assert len(acknowledged) > 50
    again = Server(tmp_path / "data", backend_url, worker=False).start()
    try:
        with again.client() as client:
            missing = [run_id for run_id in acknowledged if client.get(f"/api/v1/runs/{run_id}").status_code != 200]
    finally:
        again.stop()
    assert missing == []
