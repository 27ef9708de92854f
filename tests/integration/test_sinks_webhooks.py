"""Webhooks against a real HTTP receiver: registration, signatures, order, retries, catch-up, leases."""

from __future__ import annotations

import time

import pytest
from test_sinks_support import DEAD_RUN, OK_RUN, SINK_ENV, Receiver, by_run, free_port, wait_until

from conftest import ADMIN_TOKEN, take_env, wait_for_state
from stoker.sinks.webhooks import verify

NOOP = [["noop"]]


@pytest.fixture
def sink_api(services, monkeypatch):
    """Like `api`, with the publisher's retries and leases made fast."""
    from fastapi.testclient import TestClient

    from stoker.app import Background, create_app

    for key, value in SINK_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("STOKER_NATS_URL", raising=False)
    take_env(services)
    app = create_app(services, background=Background(services, embedded_worker=True))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        yield client


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _job(client, name, steps=NOOP, **policy):
    response = client.post("/api/v1/jobs", json={"name": name, "steps": steps, "max_concurrent_runs": 5,
                                                  **policy})
    assert response.status_code == 201, response.text


def _submit(client, job, n):
    return [client.post(f"/api/v1/jobs/{job}/runs", json={}).json()["id"] for _ in range(n)]


def test_register_list_delete_and_the_secret_is_shown_once(sink_api, services):
    created = sink_api.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["failed"],
                                                      "description": "alerts"})
    assert created.status_code == 201
    hook = created.json()
    assert hook["secret"].startswith("whsec_") and hook["events"] == ["failed"]
    listed = sink_api.get("/api/v1/webhooks")
    assert [h["id"] for h in listed.json()["webhooks"]] == [hook["id"]]
    assert hook["secret"] not in listed.text and "secret" not in listed.json()["webhooks"][0]
    one = sink_api.get(f"/api/v1/webhooks/{hook['id']}")
    assert one.status_code == 200 and hook["secret"] not in one.text
    assert one.json()["delivery"]["failures"] == 0
    # Sealed at rest, too: the stored column is not the secret.
    from stoker.store.tables import webhooks

    with services.db.read() as conn:
        stored = conn.execute(webhooks.select()).one()
    assert hook["secret"] not in stored.secret

    assert sink_api.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204
    assert sink_api.get(f"/api/v1/webhooks/{hook['id']}").status_code == 404
    assert sink_api.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 404


def test_bad_registrations_are_refused_and_need_admin(sink_api, services):
    for body, word in [({"url": "ftp://x/y"}, "http(s)"), ({"url": "not a url"}, "http(s)"),
                       ({"url": "http://h/x", "events": ["finished"]}, "finished"),
                       ({"url": "http://h/x", "secret": "short"}, "secret")]:
        response = sink_api.post("/api/v1/webhooks", json=body)
        assert response.status_code == 422 and word in response.text, (body, response.text)
    assert sink_api.get("/api/v1/webhooks").json()["webhooks"] == []
    reader = services.tokens.create("reader", ["read"])
    denied = sink_api.get("/api/v1/webhooks", headers={"Authorization": f"Bearer {reader}"})
    assert denied.status_code == 403


def test_deliveries_are_signed_and_in_order_per_run(sink_api, receiver):
    secret = "s3cret-s3cret-s3cret"
    sink_api.post("/api/v1/webhooks", json={"url": receiver.url, "secret": secret})
    _job(sink_api, "ok")
    _job(sink_api, "doomed", [["fail", "boom"]], max_attempts=2, backoff="constant", backoff_seconds=0)
    ok_runs = _submit(sink_api, "ok", 3)
    dead = _submit(sink_api, "doomed", 1)[0]
    for run_id in [*ok_runs, dead]:
        wait_for_state(sink_api, run_id)
    runs = set(ok_runs) | {dead}
    wait_until(lambda: sum(len(v) for v in by_run(receiver.events(), runs).values()) >= 3 * 3 + 6,
               what="all webhook deliveries")
    seen = by_run(receiver.events(), runs)
    assert all(seen[r] == OK_RUN for r in ok_runs), seen
    assert seen[dead] == DEAD_RUN
    seqs = [e["seq"] for e in receiver.events()]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # in order, once each
    for request in receiver.requests:
        headers = request["headers"]
        assert verify(secret, request["body"], headers["X-Stoker-Signature"])
        assert not verify("another-secret-value", request["body"], headers["X-Stoker-Signature"])
        assert headers["X-Stoker-Delivery"] == str(request["json"]["seq"])
        assert headers["X-Stoker-Event"] == request["json"]["event"]
        assert int(headers["X-Stoker-Timestamp"]) > 1_600_000_000
    dead_letter = next(e for e in receiver.events() if e["event"] == "dead_letter")
    assert dead_letter["job"] == "doomed" and "boom" in dead_letter["reason"]


def test_event_filter(sink_api, receiver):
    sink_api.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["succeeded"]})
    _job(sink_api, "ok")
    runs = _submit(sink_api, "ok", 2)
    for run_id in runs:
        wait_for_state(sink_api, run_id)
    wait_until(lambda: len(receiver.events()) >= 2, what="two deliveries")
    assert sorted(e["run_id"] for e in receiver.events()) == sorted(runs)
    assert {e["event"] for e in receiver.events()} == {"succeeded"}


def test_a_dead_webhook_never_holds_runs_and_catches_up_when_back(sink_api):
    port = free_port()  # nothing listens here yet
    hook = sink_api.post("/api/v1/webhooks", json={"url": f"http://127.0.0.1:{port}/hook"}).json()
    _job(sink_api, "ok")
    runs = _submit(sink_api, "ok", 4)
    assert all(wait_for_state(sink_api, r, timeout=20)["state"] == "SUCCEEDED" for r in runs)
    delivery = wait_until(lambda: (d := sink_api.get(f"/api/v1/webhooks/{hook['id']}").json()["delivery"])
                          ["failures"] >= 2 and d, what="failed attempts to be recorded")
    assert "ConnectError" in delivery["last_error"]

    back = Receiver(port=port, fail_first=2)  # comes back, still failing twice before it recovers
    try:
        wait_until(lambda: len(back.events()) >= 12, what="catch-up deliveries")
        assert back.failed == 2
        assert by_run(back.events()) == dict.fromkeys(runs, OK_RUN)
        state = wait_until(lambda: (d := sink_api.get(f"/api/v1/webhooks/{hook['id']}").json()["delivery"])
                           ["failures"] == 0 and d, what="failures to reset")
        assert state["last_error"] is None and state["position"] == back.events()[-1]["seq"]
    finally:
        back.close()


def test_one_publisher_per_webhook_and_a_standby_takes_over(services, receiver):
    """Two publishers (as two API replicas would run) share one database: each event arrives once."""
    from stoker.config import SinkSettings
    from stoker.sinks.publisher import Publisher
    from stoker.sinks.webhooks import WebhookStore, cursor_name
    from stoker.store.sink_cursors import Cursors
    from stoker.submission.runs import RunRequest, Submitter

    settings = SinkSettings(lease_seconds=10.0, refresh_seconds=0.05, poll_seconds=0.2,
                            retry_base_seconds=0.05, retry_max_seconds=0.2)
    hook = WebhookStore(services.db, services.secrets).create(receiver.url)
    services.runs.jobs.create("j", "pipeline", {"steps": NOOP}, max_concurrent_runs=5)
    first = Publisher(services, settings, owner="replica-a")
    second = Publisher(services, settings, owner="replica-b")
    first.start()
    second.start()
    try:
        submit = Submitter(services)
        for _ in range(5):
            submit.submit(RunRequest(), job_name="j")
        wait_until(lambda: len(receiver.events()) >= 5, what="first five deliveries")
        owner = wait_until(lambda: _owner(services, cursor_name(hook["id"])), what="an owner")
        assert owner in ("replica-a", "replica-b")
        (first if owner == "replica-a" else second).stop()  # the owner goes away, releasing its lease
        for _ in range(5):
            submit.submit(RunRequest(), job_name="j")
        wait_until(lambda: len(receiver.events()) >= 10, what="deliveries by the standby")
        assert _owner(services, cursor_name(hook["id"])) not in (owner, None)
        seqs = [e["seq"] for e in receiver.events()]
        assert len(seqs) == 10 and seqs == sorted(set(seqs))  # none twice, none lost, in order
        assert Cursors(services.db, "intruder", 1.0).claim(cursor_name(hook["id"])) is None
    finally:
        first.stop()
        second.stop()


def test_a_slow_batch_keeps_its_lease_so_no_standby_delivers_it_again(services):
    """A batch that takes longer than the lease renews it on the way: each event arrives once."""
    from stoker.config import SinkSettings
    from stoker.sinks.publisher import Publisher
    from stoker.sinks.webhooks import WebhookStore
    from stoker.submission.runs import RunRequest, Submitter

    slow = Receiver(delay=0.25)  # ten events take 2.5 s, well past the 1.5 s lease
    settings = SinkSettings(lease_seconds=1.5, refresh_seconds=0.05, poll_seconds=0.1,
                            retry_base_seconds=0.05, retry_max_seconds=0.2)
    WebhookStore(services.db, services.secrets).create(slow.url)
    services.runs.jobs.create("j", "pipeline", {"steps": NOOP}, max_concurrent_runs=5)
    submit = Submitter(services)
    for _ in range(10):  # queued before any publisher starts, so they are one batch
        submit.submit(RunRequest(), job_name="j")
    publishers = [Publisher(services, settings, owner=f"replica-{n}") for n in range(2)]
    for publisher in publishers:
        publisher.start()
    try:
        wait_until(lambda: len(slow.events()) >= 10, what="ten deliveries")
        time.sleep(1.0)  # a standby that wrongly took over would deliver again within this
        seqs = [e["seq"] for e in slow.events()]
        assert len(seqs) == 10 and seqs == sorted(set(seqs))
    finally:
        for publisher in publishers:
            publisher.stop()
        slow.close()


def test_an_owner_stopped_mid_batch_saves_what_it_delivered(services):
    """Stopping a publisher in the middle of a batch: the standby goes on from where it stopped.
    Only the event in flight at the stop may arrive twice (at least once)."""
    from stoker.config import SinkSettings
    from stoker.sinks.publisher import Publisher
    from stoker.sinks.webhooks import WebhookStore, cursor_name
    from stoker.submission.runs import RunRequest, Submitter

    slow = Receiver(delay=0.3)
    settings = SinkSettings(lease_seconds=10.0, refresh_seconds=0.05, poll_seconds=0.1,
                            retry_base_seconds=0.05, retry_max_seconds=0.2)
    hook = WebhookStore(services.db, services.secrets).create(slow.url)
    services.runs.jobs.create("j", "pipeline", {"steps": NOOP}, max_concurrent_runs=10)
    submit = Submitter(services)
    for _ in range(8):
        submit.submit(RunRequest(), job_name="j")
    publishers = {name: Publisher(services, settings, owner=name) for name in ("a", "b")}
    for publisher in publishers.values():
        publisher.start()
    try:
        wait_until(lambda: len(slow.events()) >= 3, what="the first deliveries")
        owner = _owner(services, cursor_name(hook["id"]))
        publishers[owner].stop()  # mid-batch: eight events take 2.4 s
        wait_until(lambda: len({e["seq"] for e in slow.events()}) >= 8, what="the rest, from the standby")
        time.sleep(0.5)
        seqs = [e["seq"] for e in slow.events()]
        assert len(set(seqs)) == 8  # none lost
        assert len(seqs) - len(set(seqs)) <= 1, seqs
    finally:
        for publisher in publishers.values():
            publisher.stop()
        slow.close()


def _owner(services, name):
    from stoker.store.tables import sink_cursors

    with services.db.read() as conn:
        return conn.execute(sink_cursors.select().where(sink_cursors.c.name == name)).one().owner


@pytest.mark.postgres
def test_deliveries_in_order_on_postgres(postgres_url, tmp_path, monkeypatch, receiver):
    """The same path on PostgreSQL, where seqs may commit out of order (see sinks/feed.py)."""
    from fastapi.testclient import TestClient

    from conftest import _truncate_all, make_services
    from stoker.app import Background, create_app

    for key, value in SINK_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("STOKER_NATS_URL", raising=False)
    services = make_services(tmp_path / "data", database_url=postgres_url, lease_seconds=5.0,
                             heartbeat_seconds=1.0, reap_interval_seconds=0.5)
    _truncate_all(services.db)
    services.tokens.ensure("admin", ["admin"], ADMIN_TOKEN)
    try:
        app = create_app(services, background=Background(services, embedded_worker=True))
        with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
            client.post("/api/v1/webhooks", json={"url": receiver.url})
            _job(client, "ok")
            run_ids = _submit(client, "ok", 20)
            for run_id in run_ids:
                wait_for_state(client, run_id)
            wait_until(lambda: len(by_run(receiver.events(), set(run_ids))) == len(run_ids)
                       and all(len(v) == 3 for v in by_run(receiver.events(), set(run_ids)).values()),
                       what="every run's three events")
            assert by_run(receiver.events(), set(run_ids)) == dict.fromkeys(run_ids, OK_RUN)
            seqs = [e["seq"] for e in receiver.events()]
            assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    finally:
        services.close()
