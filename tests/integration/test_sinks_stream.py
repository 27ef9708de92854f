"""The server-sent events stream over a real connection (uvicorn on a free port)."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from test_sinks_support import DEAD_RUN, OK_RUN, LiveServer, by_run, wait_until


@pytest.fixture
def live(tmp_path, monkeypatch):
    monkeypatch.delenv("STOKER_NATS_URL", raising=False)
    server = LiveServer(tmp_path / "data")
    yield server
    server.close()


@pytest.fixture
def client(live):
    with live.client(timeout=10) as c:
        yield c


class Listener:
    """Reads one stream in a thread; keeps each message (id + JSON) and each comment line."""

    def __init__(self, client: httpx.Client, params=None, headers=None) -> None:
        # Frequent keep-alives let the reader thread notice close() promptly.
        params = {"keepalive": 0.1, **(params or {})}
        self.messages: list[tuple[int, dict]] = []
        self.comments: list[str] = []
        self.status: int | None = None
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(client, params, headers or {}),
                                        daemon=True)
        self._thread.start()
        assert self.connected.wait(10), "stream did not connect"

    def _run(self, client, params, headers) -> None:
        try:
            self._read(client, params, headers)
        except httpx.HTTPError:  # the server went away first
            pass
        finally:
            self.connected.set()

    def _read(self, client, params, headers) -> None:
        with client.stream("GET", "/api/v1/events/stream", params=params, headers=headers,
                           timeout=httpx.Timeout(10, read=30)) as response:
            self._response = response
            self.status = response.status_code
            self.content_type = response.headers.get("content-type", "")
            event_id, data = None, None
            for line in response.iter_lines():
                if line.startswith(":"):
                    self.comments.append(line)
                    self.connected.set()
                elif line.startswith("id: "):
                    event_id = int(line[4:])
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                elif line == "" and data is not None:
                    self.messages.append((event_id, data))
                    event_id, data = None, None
                if self._stop.is_set():
                    return

    def events(self) -> list[dict]:
        return [data for _, data in self.messages]

    def close(self) -> None:
        self._stop.set()
        response = getattr(self, "_response", None)
        if response is not None:
            response.close()  # unblocks a reader waiting for the next line
        self._thread.join(5)
        assert not self._thread.is_alive()


def _job(client, name, steps=(("noop",),), **policy):
    assert client.post("/api/v1/jobs", json={"name": name, "steps": [list(s) for s in steps],
                                             "max_concurrent_runs": 5, **policy}).status_code == 201


def _submit(client, job):
    return client.post(f"/api/v1/jobs/{job}/runs", json={}).json()["id"]


def _done(client, run_id):
    return client.get(f"/api/v1/runs/{run_id}").json()["state"] in ("SUCCEEDED", "FAILED", "CANCELLED")


def test_stream_filters_by_job_and_resumes_from_an_event_id(live, client):
    _job(client, "wanted")
    _job(client, "other")
    stream = Listener(client, params={"job": "wanted"})
    assert stream.status == 200 and stream.content_type.startswith("text/event-stream")
    try:
        wanted = [_submit(client, "wanted") for _ in range(3)]
        other = _submit(client, "other")
        wait_until(lambda: all(_done(client, r) for r in [*wanted, other]), what="runs to finish")
        wait_until(lambda: len(stream.messages) >= 9, what="nine events of the wanted job")
        time.sleep(0.2)  # room for anything that should not come
        assert by_run(stream.events()) == dict.fromkeys(wanted, OK_RUN)  # nothing of `other`
        ids = [i for i, _ in stream.messages]
        assert ids == sorted(ids) and ids == [e["seq"] for e in stream.events()]
    finally:
        stream.close()

    # A reconnect with Last-Event-ID gets exactly what came after that id; ?after= does the same.
    resume_from = ids[3]
    again = Listener(client, params={"job": "wanted"}, headers={"Last-Event-ID": str(resume_from)})
    by_query = Listener(client, params={"job": "wanted", "after": resume_from})
    try:
        wait_until(lambda: len(again.messages) >= 5 and len(by_query.messages) >= 5, what="replay")
        assert [i for i, _ in again.messages] == ids[4:]
        assert [i for i, _ in by_query.messages] == ids[4:]
    finally:
        again.close()
        by_query.close()


def test_stream_of_one_run_from_the_start_includes_its_dead_letter(live, client):
    _job(client, "doomed", [["fail", "boom"]], max_attempts=2, backoff="constant", backoff_seconds=0)
    run_id = _submit(client, "doomed")
    wait_until(lambda: _done(client, run_id), what="the run to fail")
    stream = Listener(client, params={"run": run_id, "after": 0})
    try:
        wait_until(lambda: len(stream.messages) >= 6, what="the run's history")
        assert [e["event"] for e in stream.events()] == DEAD_RUN
        assert {e["run_id"] for e in stream.events()} == {run_id}
        assert stream.events()[-1]["reason"].startswith("failed 2 of 2 attempts")
    finally:
        stream.close()


def test_events_arrive_on_wakeup_not_on_a_timer(live, client, monkeypatch):
    from stoker.api import stream as stream_module

    # No timer could deliver within this test: only the submit's wake-up can.
    monkeypatch.setattr(stream_module, "FALLBACK_POLL_SECONDS", 60.0)
    _job(client, "quick")
    stream = Listener(client, params={"job": "quick", "keepalive": 60})
    try:
        time.sleep(0.3)  # the stream has read the (empty) outbox and now waits
        started = time.monotonic()
        _submit(client, "quick")
        wait_until(lambda: any(e["event"] == "queued" for e in stream.events()), timeout=10,
                   what="queued event")
        assert time.monotonic() - started < 5
        assert [c.split(",")[0] for c in stream.comments] == [": connected"]  # and no keep-alive yet
    finally:
        # With no keep-alives for 60 s, closing the response from this thread does not always
        # unblock the reader: give it a line to read, after which it sees the stop flag.
        stream._stop.set()
        _submit(client, "quick")
        stream.close()


def test_keepalive_comments_flow_on_an_idle_stream(live, client):
    stream = Listener(client, params={"run": "no-such-run", "keepalive": 0.2})
    try:
        wait_until(lambda: stream.comments.count(": keep-alive") >= 2, timeout=5, what="keep-alives")
        assert stream.messages == []
    finally:
        stream.close()


def test_stream_needs_read_scope_and_valid_parameters(live, client):
    assert client.get("/api/v1/events/stream", headers={"Authorization": ""}).status_code == 401
    assert client.get("/api/v1/events/stream", params={"job": "nope"}).status_code == 404
    bad = client.get("/api/v1/events/stream", headers={"Last-Event-ID": "abc"})
    assert bad.status_code == 422 and "Last-Event-ID" in bad.text
    assert client.get("/api/v1/events/stream", params={"after": -1}).status_code == 422
