"""Job notifications end to end: a real server (the publisher in its thread), a real SMTP server
(aiosmtpd) and a local HTTP receiver; one message per run and event, failures visible on the job."""

from __future__ import annotations

import time

import pytest
from test_sinks_support import LiveServer

from conftest import wait_for_state
from harness import free_port, wait_for
from notify_receivers import HttpReceiver, SmtpReceiver
from stoker.sinks.webhooks import verify

SIGNING_KEY = "sign-key-0123456789abcdef"


@pytest.fixture
def receivers():
    http, smtp = HttpReceiver(), SmtpReceiver()
    yield http, smtp
    http.close()
    smtp.close()


def _env(monkeypatch, smtp_port: int) -> None:
    monkeypatch.setenv("STOKER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("STOKER_SMTP_PORT", str(smtp_port))
    monkeypatch.setenv("STOKER_SMTP_FROM", "stoker@example.org")
    monkeypatch.setenv("STOKER_NOTIFY_RETRY_BASE_SECONDS", "0.2")
    monkeypatch.setenv("STOKER_NOTIFY_RETRY_MAX_SECONDS", "0.5")
    monkeypatch.setenv("STOKER_SLOW_CHECK_SECONDS", "0.3")
    monkeypatch.setenv("STOKER_SINK_POLL_SECONDS", "0.2")
    monkeypatch.setenv("STOKER_SINK_REFRESH_SECONDS", "0.2")


@pytest.fixture
def server(tmp_path, receivers, monkeypatch):
    _env(monkeypatch, receivers[1].port)
    srv = LiveServer(tmp_path / "data")
    yield srv
    srv.close()


def _destinations(http: HttpReceiver) -> list[dict]:
    return [{"kind": "chat", "url": f"{http.url}/chat"},
            {"kind": "email", "to": ["oncall@example.org"], "on": ["failure", "retry"]},
            {"kind": "webhook", "url": f"{http.url}/hook", "secret": "hook"}]


def test_a_failure_reaches_chat_email_and_a_signed_webhook_once(server, receivers):
    http, smtp = receivers
    with server.client() as client:
        assert client.post("/api/v1/secrets", json={"name": "hook", "kind": "generic",
                                                     "values": {"signing_key": SIGNING_KEY}}).status_code == 201
        made = client.post("/api/v1/jobs", json={
            "name": "nightly-etl", "steps": [["fail", "the warehouse is on fire\nsecond line"]], "max_attempts": 2,
            "backoff": "constant", "backoff_seconds": 0,
            "notifications": {"on": ["failure"], "destinations": _destinations(http)}})
        assert made.status_code == 201, made.text
        run = wait_for_state(client, client.post("/api/v1/jobs/nightly-etl/runs", json={}).json()["id"])
        assert run["state"] == "FAILED"
        wait_for(lambda: http.on("/chat") and http.on("/hook") and len(smtp.messages) == 2, 30, "the messages")
        time.sleep(1.5)  # time for a duplicate to show up, if there were one
        [chat] = http.on("/chat")
        text = chat["json"]["text"]
        assert "nightly-etl" in text and "failed" in text and "the warehouse is on fire" in text
        assert "second line" not in text and f"/ui/runs/{run['id']}" in text and "attempt 2/2" in text
        [hook] = http.on("/hook")
        assert verify(SIGNING_KEY, hook["body"], hook["headers"]["X-Stoker-Signature"])
        assert hook["json"]["event"] == "failure" and hook["json"]["run_id"] == run["id"]
        assert hook["json"]["error"] == "the warehouse is on fire" or "warehouse" in hook["json"]["error"]
        subjects = sorted(m["Subject"] for m in smtp.messages)
        assert subjects == ["Stoker: job nightly-etl failed (attempt 2/2)",
                            "Stoker: job nightly-etl failed; retrying (attempt 1/2)"]
        assert all(m["To"] == "oncall@example.org" for m in smtp.messages)
        history = client.get("/api/v1/jobs/nightly-etl/notifications").json()
        assert sorted((d["event"], d["kind"], d["state"]) for d in history["deliveries"]) == [
            ("failure", "chat", "delivered"), ("failure", "email", "delivered"),
            ("failure", "webhook", "delivered"), ("retry", "email", "delivered")]
        assert client.get("/api/v1/jobs/nightly-etl").json()["notification_deliveries"]["delivered"] == 4

        # The outbox is read at least once: the router reading every event again (a publisher that
        # died before saving its cursor) makes no second delivery, so no second message.
        from stoker.sinks.feed import OutboxFeed
        from stoker.sinks.notifications import NotificationRouter
        from stoker.store.notifications import NotificationStore

        router = NotificationRouter(server.services, NotificationStore(server.services.db))
        events, _ = OutboxFeed(server.services.db).read(0, limit=1000)
        assert [e.event for e in events if router.wants(e)] == ["running", "retrying", "running", "failed"]
        for event in events:
            if router.wants(event):
                router._route(event)
        time.sleep(1.0)
        assert len(http.on("/chat")) == 1 and len(http.on("/hook")) == 1 and len(smtp.messages) == 2
        assert len(client.get("/api/v1/jobs/nightly-etl/notifications").json()["deliveries"]) == 4


def test_success_start_and_slow_are_told_once_each(server, receivers):
    http, _smtp = receivers
    with server.client() as client:
        made = client.post("/api/v1/jobs", json={
            "name": "slowpoke", "steps": [["sleep", 2], ["noop"]],
            "notifications": {"on": ["success", "start", "slow"], "slow_after_seconds": 1,
                              "destinations": [{"kind": "chat", "url": f"{http.url}/chat"}]}})
        assert made.status_code == 201, made.text
        run = wait_for_state(client, client.post("/api/v1/jobs/slowpoke/runs", json={}).json()["id"])
        assert run["state"] == "SUCCEEDED"
        wait_for(lambda: len(http.on("/chat")) == 3, 30, "three messages")
        time.sleep(1.0)
        texts = [r["json"]["text"] for r in http.on("/chat")]
        assert len(texts) == 3
        assert sum("started" in t for t in texts) == 1
        assert sum("running slow" in t for t in texts) == 1
        assert sum("succeeded" in t and "took" in t for t in texts) == 1


def test_an_smtp_server_down_then_up_the_failure_shows_on_the_job_and_the_mail_arrives_once(
        tmp_path, monkeypatch):
    port = free_port()  # nothing listens there yet
    _env(monkeypatch, port)
    server = LiveServer(tmp_path / "data")
    smtp = None
    try:
        with server.client() as client:
            client.post("/api/v1/jobs", json={
                "name": "doomed", "steps": [["fail", "boom"]], "max_attempts": 1,
                "notifications": {"destinations": [{"kind": "email", "to": ["a@example.org"]}]}})
            run = wait_for_state(client, client.post("/api/v1/jobs/doomed/runs", json={}).json()["id"])
            assert run["state"] == "FAILED"
            status = wait_for(lambda: (s := client.get("/api/v1/jobs/doomed").json()["notification_deliveries"])
                              ["last_error"] and s, 30, "the failure to show on the job")
            assert "SMTP 127.0.0.1" in status["last_error"] and status["pending"] == 1
            [pending] = client.get("/api/v1/jobs/doomed/notifications").json()["deliveries"]
            assert pending["state"] == "pending" and pending["tries"] >= 1 and pending["next_try_at"]
            smtp = SmtpReceiver(port)
            wait_for(lambda: smtp.messages, 30, "the mail after the server came up")
            time.sleep(1.5)
            assert len(smtp.messages) == 1
            [done] = client.get("/api/v1/jobs/doomed/notifications").json()["deliveries"]
            assert done["state"] == "delivered" and done["tries"] >= 2
    finally:
        server.close()
        if smtp is not None:
            smtp.close()


@pytest.mark.parametrize("notifications, words", [
    ({"destinations": []}, "1 to 10"),
    ({"on": ["explode"], "destinations": [{"kind": "chat", "url": "http://x/y"}]}, "explode"),
    ({"destinations": [{"kind": "pager", "url": "http://x"}]}, "kind"),
    ({"destinations": [{"kind": "chat", "url": "ftp://x"}]}, "http(s)"),
    ({"destinations": [{"kind": "email", "to": ["not an address"]}]}, "e-mail"),
    ({"destinations": [{"kind": "email", "to": ["a@b.org\r\nBcc: x@y.org"]}]}, "e-mail"),
    ({"destinations": [{"kind": "webhook", "url": "http://x/y"}]}, "secret"),
    ({"destinations": [{"kind": "webhook", "url": "http://x/y", "secret": "nope"}]}, "nope"),
    ({"slow_after_seconds": 0, "destinations": [{"kind": "chat", "url": "http://x/y"}]}, "slow_after_seconds"),
])
def test_bad_notifications_are_refused_and_nothing_changes(server, notifications, words):
    with server.client() as client:
        response = client.post("/api/v1/jobs", json={"name": "j", "steps": [["noop"]], "notifications": notifications})
        assert response.status_code == 422 and words in response.text, response.text
        assert client.get("/api/v1/jobs/j").status_code == 404
        client.post("/api/v1/jobs", json={"name": "k", "steps": [["noop"]]})
        patched = client.patch("/api/v1/jobs/k", json={"notifications": notifications})
        assert patched.status_code == 422
        assert client.get("/api/v1/jobs/k").json()["notifications"] is None
