"""The dead-letter sink on a real NATS JetStream (127.0.0.1:4222): for each refused execution, the
execution object as Sate's gateway published it to its dead_letter_queue topic, on
<prefix>.dead_letter (stoker.runs.dead_letter by default); the run's own exhaustion is not one."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from conftest import ADMIN_TOKEN, delete_jetstream, jetstream_messages, require_service, take_env

pytestmark = pytest.mark.nats
URL = "nats://127.0.0.1:4222"


def test_refused_executions_published_as_sate_published_them(services, monkeypatch):
    require_service("NATS", "127.0.0.1", 4222)
    from fastapi.testclient import TestClient

    from stoker.app import Background, create_app

    stream, prefix = f"STOKER_SATE_{uuid.uuid4().hex[:8].upper()}", f"sate-test-{uuid.uuid4().hex[:8]}.runs"
    for key, value in {"STOKER_NATS_URL": URL, "STOKER_NATS_STREAM": stream,
                       "STOKER_NATS_SUBJECT_PREFIX": prefix, "STOKER_SINK_RETRY_BASE_SECONDS": "0.05",
                       "STOKER_SINK_REFRESH_SECONDS": "0.1"}.items():
        monkeypatch.setenv(key, value)
    take_env(services)
    app = create_app(services, background=Background(services, embedded_worker=True))
    try:
        with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as api:
            req = api.post("/requests", json={"payload": {"message": "ping"}, "origin": "nats-test"}).json()
            last = None
            for n in range(1, 4):
                last = api.post(f"/requests/{req['id']}/executions", json={"force_error": True, "n": n}).json()
                deadline = time.monotonic() + 30
                while len(api.get(f"/requests/{req['id']}/results").json()["results"]) < n:
                    assert time.monotonic() < deadline
                    time.sleep(0.02)
            for body in ({"force_error": False}, {"force_error": False, "why": "again"}):
                assert api.post(f"/requests/{req['id']}/executions", json=body).status_code == 409
            deadline = time.monotonic() + 30
            while True:
                letters = [m for m in asyncio.run(jetstream_messages(URL, stream)) if m[0] == f"{prefix}.dead_letter"]
                if len(letters) >= 3:  # the two refusals and the run's exhaustion, in any order
                    break
                assert time.monotonic() < deadline, "no dead letters on NATS"
                time.sleep(0.1)
            time.sleep(0.5)  # nothing more arrives on that subject
            letters = [m for m in asyncio.run(jetstream_messages(URL, stream)) if m[0] == f"{prefix}.dead_letter"]
        refusals = [m for m in letters if m[1].get("Stoker-Event") == "dead_letter"
                    and json.loads(m[2]).get("id") == last["id"]]
        assert len(refusals) == 2  # one per refused execution
        for _subject, headers, data in refusals:
            assert json.loads(data) == last  # the last execution, exactly as the gateway published it
            assert headers["Stoker-Seq"] and headers["Stoker-Run"]
        # The run's own exhaustion is a different kind: a Stoker document, not an execution.
        others = [json.loads(m[2]) for m in letters if m not in refusals]
        assert [o["kind"] for o in others] == ["exhausted"] and "processing_request" not in others[0]
    finally:
        asyncio.run(delete_jetstream(URL, stream))
