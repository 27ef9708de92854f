"""The NATS JetStream sink against real servers: the shared one at 127.0.0.1:4222, and a private
nats-server started late, to show that a broker that was down delays delivery and loses nothing."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid

import pytest
from test_sinks_support import DEAD_RUN, OK_RUN, SINK_ENV, Receiver, by_run, free_port, wait_until

from conftest import (
    ADMIN_TOKEN,
    delete_jetstream,
    jetstream_messages,
    require_service,
    service_up,
    take_env,
    wait_for_state,
)

pytestmark = pytest.mark.nats


@pytest.fixture
def nats_app(services, monkeypatch):
    """Returns a factory: an app whose publisher sends to the given NATS URL and stream."""
    from fastapi.testclient import TestClient

    from stoker.app import Background, create_app

    for key, value in SINK_ENV.items():
        monkeypatch.setenv(key, value)
    clients = []

    def start(url: str, stream: str, prefix: str):
        monkeypatch.setenv("STOKER_NATS_URL", url)
        monkeypatch.setenv("STOKER_NATS_STREAM", stream)
        monkeypatch.setenv("STOKER_NATS_SUBJECT_PREFIX", prefix)
        take_env(services)
        app = create_app(services, background=Background(services, embedded_worker=True))
        client = TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


async def _read_stream(url: str, stream: str) -> list[dict]:
    """Every message of a stream, oldest first: subject, headers, JSON body."""
    import json

    return [{"subject": subject, "headers": headers, **json.loads(body)}
            for subject, headers, body in await jetstream_messages(url, stream)]


def _job(client, name, steps, **policy):
    assert client.post("/api/v1/jobs", json={"name": name, "steps": steps, "max_concurrent_runs": 5,
                                             **policy}).status_code == 201


def _submit_mix(client):
    """Three runs that succeed and one that exhausts its two attempts."""
    _job(client, "ok", [["noop"]])
    _job(client, "doomed", [["fail", "boom"]], max_attempts=2, backoff="constant", backoff_seconds=0)
    ok = [client.post("/api/v1/jobs/ok/runs", json={}).json()["id"] for _ in range(3)]
    dead = client.post("/api/v1/jobs/doomed/runs", json={}).json()["id"]
    for run_id in [*ok, dead]:
        wait_for_state(client, run_id, timeout=30)
    return ok, dead


def _check_messages(messages, ok, dead, prefix):
    runs = set(ok) | {dead}
    ours = [m for m in messages if m["run_id"] in runs]
    assert by_run(ours) == {**dict.fromkeys(ok, OK_RUN), dead: DEAD_RUN}
    for m in ours:
        assert m["subject"] == f"{prefix}.{m['event']}"
        assert m["headers"]["Nats-Msg-Id"].endswith(f"-{m['seq']}")
    seqs = [m["seq"] for m in ours]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    dead_letter = next(m for m in ours if m["event"] == "dead_letter")
    assert dead_letter["subject"] == f"{prefix}.dead_letter" and "boom" in dead_letter["reason"]


def test_every_run_state_reaches_jetstream_in_order(nats_app):
    require_service("NATS", "127.0.0.1", 4222)
    url = "nats://127.0.0.1:4222"
    # Its own stream and subjects, so concurrent test runs on the shared server do not mix.
    stream, prefix = f"STOKER_TEST_{uuid.uuid4().hex[:8].upper()}", f"stoker-test-{uuid.uuid4().hex[:8]}.runs"
    try:
        client = nats_app(url, stream, prefix)
        ok, dead = _submit_mix(client)
        messages = wait_until(
            lambda: (m := asyncio.run(_read_stream(url, stream))) and len(m) >= 3 * 3 + 6 and m,
            what="all events on JetStream")
        _check_messages(messages, ok, dead, prefix)
    finally:
        asyncio.run(delete_jetstream(url, stream))


def test_the_default_subjects_are_stoker_runs(nats_app):
    """With the default settings events land on stoker.runs.<event> in stream STOKER_RUNS."""
    require_service("NATS", "127.0.0.1", 4222)
    from stoker.config import SinkSettings

    defaults = SinkSettings()
    assert (defaults.nats_stream, defaults.nats_subject_prefix) == ("STOKER_RUNS", "stoker.runs")
    url = "nats://127.0.0.1:4222"
    client = nats_app(url, defaults.nats_stream, defaults.nats_subject_prefix)
    ok, dead = _submit_mix(client)
    runs = set(ok) | {dead}

    def ours():
        return [m for m in asyncio.run(_read_stream(url, defaults.nats_stream)) if m["run_id"] in runs]

    messages = wait_until(lambda: (m := ours()) and len(m) >= 15 and m, what="events on STOKER_RUNS")
    _check_messages(messages, ok, dead, "stoker.runs")


def test_nats_down_never_holds_runs_nor_webhooks_and_catches_up_when_it_starts(nats_app, tmp_path):
    server_bin = shutil.which("nats-server")
    if server_bin is None:
        pytest.skip("nats-server is not installed (needed to start a broker late)")
    port = free_port()  # no broker here yet
    url = f"nats://127.0.0.1:{port}"
    receiver = Receiver()
    try:
        client = nats_app(url, "STOKER_RUNS", "stoker.runs")
        client.post("/api/v1/webhooks", json={"url": receiver.url})
        ok, dead = _submit_mix(client)  # every run ends while NATS is down
        assert [client.get(f"/api/v1/runs/{r}").json()["state"] for r in ok] == ["SUCCEEDED"] * 3
        # The webhook, with its own cursor, got everything meanwhile.
        wait_until(lambda: len(receiver.events()) >= 15, what="webhook deliveries")
        assert by_run(receiver.events()) == {**dict.fromkeys(ok, OK_RUN), dead: DEAD_RUN}
        from stoker.store.tables import sink_cursors

        services = client.app.state.services

        def nats_cursor():
            with services.db.read() as conn:
                return conn.execute(sink_cursors.select().where(sink_cursors.c.name == "nats")).one()

        cursor = wait_until(lambda: (c := nats_cursor()).failures >= 2 and c, what="failed NATS attempts")
        assert f"cannot connect to NATS at {url}" in cursor.last_error

        broker = subprocess.Popen([server_bin, "-js", "-a", "127.0.0.1", "-p", str(port),
                                   "-sd", str(tmp_path / "js")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: service_up("127.0.0.1", port), what="nats-server to listen")
            messages = wait_until(
                lambda: (m := asyncio.run(_read_stream(url, "STOKER_RUNS"))) and len(m) >= 15 and m,
                what="the catch-up on JetStream")
            _check_messages(messages, ok, dead, "stoker.runs")
            assert len(messages) == 15  # acknowledged once each: nothing stored twice
        finally:
            broker.terminate()
            broker.wait(10)
    finally:
        receiver.close()


def test_cluster_events_reach_jetstream_on_their_own_subjects(nats_app, monkeypatch):
    """cluster.<status> events go to <cluster prefix>.<status> (default stoker.clusters.<status>)."""
    require_service("NATS", "127.0.0.1", 4222)
    url = "nats://127.0.0.1:4222"
    tag = uuid.uuid4().hex[:8]
    stream, prefix = f"STOKER_TEST_{tag.upper()}", f"stoker-test-{tag}.runs"
    cluster_prefix = f"stoker-test-{tag}.clusters"
    try:
        client = nats_app(url, stream, prefix)
        r = client.post("/bigdata/api/v1/products/external/1", json={"master": "spark://10.9.9.9:7077"})
        assert r.status_code == 202
        cluster_id = r.json()["id"]
        messages = wait_until(
            lambda: (m := [x for x in asyncio.run(_read_stream(url, stream)) if x.get("cluster_id") == cluster_id])
            and m[-1]["event"] == "cluster.ready" and m, what="cluster events on JetStream")
        assert [m["subject"] for m in messages] == [
            f"{cluster_prefix}.{s}" for s in ("registered", "scheduling", "scheduled", "configuring", "configured",
                                              "ready")]
        assert messages[-1]["run_id"] is None and messages[-1]["status"] == "ready"
    finally:
        asyncio.run(delete_jetstream(url, stream))
