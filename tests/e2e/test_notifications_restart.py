"""A `stoker serve` SIGKILLed while it delivers a job's failure notifications: restarted on the same
data dir, it delivers them, and each reaches its receiver once."""

from __future__ import annotations

import time

import pytest

from harness import Server, wait_for, wait_terminal
from notify_receivers import HttpReceiver, SmtpReceiver

pytestmark = pytest.mark.e2e


def test_a_server_killed_mid_delivery_delivers_after_restart_once(tmp_path):
    http, smtp = HttpReceiver(), SmtpReceiver()
    env = {"STOKER_SMTP_HOST": "127.0.0.1", "STOKER_SMTP_PORT": str(smtp.port),
           "STOKER_NOTIFY_LEASE_SECONDS": "3", "STOKER_NOTIFY_RETRY_BASE_SECONDS": "0.2",
           "STOKER_SINK_POLL_SECONDS": "0.2", "STOKER_SINK_REFRESH_SECONDS": "0.2"}
    server = Server(tmp_path / "data", env=env).start()
    try:
        with server.client() as client:
            made = client.post("/api/v1/jobs", json={
                "name": "nightly", "steps": [["fail", "disk full"]], "max_attempts": 1,
                "notifications": {"on": ["failure"], "destinations": [
                    {"kind": "chat", "url": f"{http.url}/chat"},
                    {"kind": "email", "to": ["oncall@example.org"]}]}})
            assert made.status_code == 201, made.text
            http.hold.set()  # the chat receiver takes the POST and does not answer
            run_id = client.post("/api/v1/jobs/nightly/runs", json={}).json()["id"]
            [run] = wait_terminal(client, [run_id], timeout=120)
            assert run["state"] == "FAILED"
            wait_for(lambda: http.requests, 60, "the chat POST to arrive")
        server.kill()  # mid-delivery: the POST is unanswered, the deliveries still claimed
        http.hold.clear()  # the receiver's handler lets the dead connection go
        time.sleep(0.3)
        assert http.accepted == []  # the held POST was never answered: not delivered
        answered_before = 0
        server = Server(tmp_path / "data", env=env).start()
        with server.client() as client:
            wait_for(lambda: len(http.accepted) > answered_before and smtp.messages, 60,
                     "the messages after the restart")
            time.sleep(2.0)  # room for a duplicate, were there one
            history = client.get("/api/v1/jobs/nightly/notifications").json()["deliveries"]
            assert sorted((d["kind"], d["state"]) for d in history) == [("chat", "delivered"), ("email", "delivered")]
        assert len(smtp.messages) == 1 and smtp.messages[0]["Subject"] == "Stoker: job nightly failed (attempt 1/1)"
        # Every POST carried the same delivery id, and one was answered after the restart: once.
        ids = {r["headers"]["X-Stoker-Delivery"] for r in http.requests}
        assert len(ids) == 1
        assert len([r for r in http.accepted if r["path"] == "/chat"]) - answered_before == 1
    finally:
        server.stop()
        http.close()
        smtp.close()
