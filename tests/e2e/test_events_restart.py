"""Stoker is SIGKILLed while an application streams events; after a restart the application's later
payloads (and its retry of the one in flight) are appended to the same log, each stored once."""

from __future__ import annotations

import threading
import time

import httpx
import orjson
import pytest

from harness import TOKEN, UvicornServer, payload_bytes

pytestmark = pytest.mark.e2e

PAYLOADS, PER_PAYLOAD = 60, 200


def event(n: int) -> bytes:
    return orjson.dumps({"Event": "SparkListenerTaskEnd", "n": n, "pad": "x" * 2000,
                         "Task End Reason": {"Reason": "Success"}})


def stream(url: str, acked: list[int], errors: list[str]) -> None:
    """A listener: payloads in order, each retried with the same counters until acknowledged."""
    with httpx.Client(timeout=5) as client:
        for p in range(1, PAYLOADS + 1):
            events = [(1000 + n, event(n)) for n in range((p - 1) * PER_PAYLOAD, p * PER_PAYLOAD)]
            if p == 1:
                events[0] = (1000, b'{"Event":"SparkListenerApplicationStart","Timestamp":1000}')
            if p == PAYLOADS:
                events[-1] = (events[-1][0], b'{"Event":"SparkListenerApplicationEnd","Timestamp":99000}')
            body = payload_bytes("restart-job", "app-1", events, payload_counter=p)
            deadline = time.monotonic() + 60
            while True:
                try:
                    response = client.post(url + "/collect", content=body,
                                           headers={"Authorization": f"Bearer {TOKEN}"})
                    if response.status_code == 200:
                        acked.append(p)
                        break
                    errors.append(f"{p}: {response.status_code} {response.text}")
                except httpx.HTTPError:
                    pass  # the server is down: retry the same payload
                if time.monotonic() > deadline:
                    errors.append(f"{p}: never acknowledged")
                    return
                time.sleep(0.05)


def test_events_after_a_sigkill_and_restart_append_to_the_same_log(tmp_path):
    (tmp_path / "data").mkdir()
    server = UvicornServer(tmp_path / "data").start()
    acked: list[int] = []
    errors: list[str] = []
    sender = threading.Thread(target=stream, args=(server.url, acked, errors))
    sender.start()
    try:
        while len(acked) < PAYLOADS // 3:
            time.sleep(0.005)
        server.kill()  # mid-stream: payloads are in flight
        killed_after = len(acked)
        time.sleep(0.5)
        server.start()  # same data dir, same port
        sender.join(90)
        assert not errors and acked == list(range(1, PAYLOADS + 1))
        assert killed_after < PAYLOADS

        headers = {"Authorization": f"Bearer {TOKEN}"}
        base = f"{server.url}/api/v1/spark/jobs/restart-job/runs/app-1"
        lines = httpx.get(base + "/events", headers=headers, timeout=30).content.splitlines()
        assert len(lines) == PAYLOADS * PER_PAYLOAD  # nothing lost, nothing twice
        numbers = [orjson.loads(line).get("n") for line in lines]
        assert numbers[1:-1] == list(range(1, PAYLOADS * PER_PAYLOAD - 1))
        runs = httpx.get(f"{server.url}/api/v1/spark/jobs/restart-job/runs", headers=headers).json()
        assert [r["run_id"] for r in runs["runs"]] == ["app-1"]
        assert httpx.get(base + "/duration", headers=headers).json()["duration_ms"] == 98000
    finally:
        server.stop()
