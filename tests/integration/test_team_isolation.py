"""One team's things are its own (docs/teams.md): the issue's four acts of bob, who is in team blue,
on what alice's team red has, each answer 404 (its existence is not told), and work for alice's
teammates with the right role."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN
from stoker.app import create_app

PEOPLE = b"name,age\nana,34\nbo,28\n"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def two_teams(services):
    services.teams.create("red")
    services.teams.create("blue")
    tokens = {
        "alice": services.tokens.create("alice", ["read", "submit"], user="alice", team="red", role="owner"),
        "rita": services.tokens.create("rita", ["read", "submit"], user="rita", team="red", role="runner"),
        "vic": services.tokens.create("vic", ["read", "submit"], user="vic", team="red", role="viewer"),
        "bob": services.tokens.create("bob", ["read", "submit"], user="bob", team="blue", role="owner"),
        "admin": ADMIN_TOKEN,
    }
    with TestClient(create_app(services)) as client:
        yield client, tokens, services


def test_each_team_has_its_own_files(two_teams):
    client, t, services = two_teams
    put = client.put("/api/v1/files/alice.csv", content=PEOPLE, headers=bearer(t["alice"]))
    assert put.status_code == 201
    red_root = services.roots.for_team("red").storage_root
    assert (red_root / "alice.csv").read_bytes() == PEOPLE
    assert red_root != services.roots.storage_root and not (services.roots.storage_root / "alice.csv").exists()
    # Her teammate reads it; bob, in blue, finds nothing there, in any of the files API's ways.
    assert client.get("/api/v1/files/alice.csv", headers=bearer(t["vic"])).content == PEOPLE
    assert client.get("/api/v1/files/alice.csv", headers=bearer(t["bob"])).status_code == 404
    assert client.get("/api/v1/files/alice.csv/preview", headers=bearer(t["bob"])).status_code == 404
    assert client.delete("/api/v1/files/alice.csv", headers=bearer(t["bob"])).status_code == 404
    assert client.get("/api/v1/files", headers=bearer(t["bob"])).json()["files"] == []
    assert [f["path"] for f in client.get("/api/v1/files", headers=bearer(t["vic"])).json()["files"]] == ["alice.csv"]
    # His absolute path to her root is outside his.
    assert services.roots.for_team("blue").contains(str(red_root / "alice.csv")) is False
    # Blue's own file with the same name is blue's.
    assert client.put("/api/v1/files/alice.csv", content=b"x\n1\n", headers=bearer(t["bob"])).status_code == 201
    assert client.get("/api/v1/files/alice.csv", headers=bearer(t["alice"])).content == PEOPLE


START = b'{"Event":"SparkListenerApplicationStart","App Name":"pi","App ID":"local-1","Timestamp":1000}'


def test_spark_events_belong_to_the_ingest_tokens_team(two_teams):
    from harness import payload_bytes

    client, t, services = two_teams
    red_ingest = services.tokens.create("red listener", ["ingest"], user="red-ingest", team="red")
    blue_ingest = services.tokens.create("blue listener", ["ingest"], user="blue-ingest", team="blue")
    posted = client.post("/collect", content=payload_bytes("etl", "r1", [(1000, START)], payload_counter=1),
                         headers=bearer(red_ingest))
    assert posted.status_code == 200 and posted.json()["status"] == "stored"
    summary = "/api/v1/spark/jobs/etl/runs/r1/summary"
    assert client.get(summary, headers=bearer(t["vic"])).json()["app_name"] == "pi"
    assert client.get(summary, headers=bearer(t["bob"])).status_code == 404
    assert client.get("/api/v1/spark/jobs/etl/runs/r1/events", headers=bearer(t["bob"])).status_code == 404
    assert client.get("/api/v1/spark/jobs", headers=bearer(t["bob"])).json()["jobs"] == []
    assert client.get("/api/v1/spark/jobs", headers=bearer(t["vic"])).json()["jobs"] == ["etl"]
    assert client.get(summary, headers=bearer(t["admin"])).status_code == 200
    # Blue's ingest token cannot add to red's app (nothing stored), nor tell it exists.
    more = payload_bytes("etl", "r1", [(2000, START)], payload_counter=2)
    assert client.post("/collect", content=more, headers=bearer(blue_ingest)).status_code == 404
    assert client.get(summary, headers=bearer(t["vic"])).json()["events"] == 1


def test_secrets_are_named_per_team_and_another_teams_is_not_found(two_teams):
    client, t, services = two_teams
    body = {"name": "warehouse", "kind": "env", "values": {"PASSWORD": "red-s3cret"}}
    assert client.post("/api/v1/secrets", json=body, headers=bearer(t["alice"])).status_code == 201
    assert client.get("/api/v1/secrets/warehouse", headers=bearer(t["vic"])).status_code == 200
    for method, extra in (("GET", {}), ("PUT", {"json": {"description": "mine"}}), ("DELETE", {})):
        assert client.request(method, "/api/v1/secrets/warehouse", headers=bearer(t["bob"]), **extra).status_code == 404
    assert client.get("/api/v1/secrets", headers=bearer(t["bob"])).json()["secrets"] == []
    # The same name in blue is blue's own (no 409 telling red's exists), with its own values.
    blue = {**body, "values": {"PASSWORD": "blue"}}
    assert client.post("/api/v1/secrets", json=blue, headers=bearer(t["bob"])).status_code == 201
    assert services.secret_store.open_many(["warehouse"], team="red")["warehouse"].values == {"PASSWORD": "red-s3cret"}
    assert services.secret_store.open_many(["warehouse"], team="blue")["warehouse"].values == {"PASSWORD": "blue"}


def test_clusters_are_their_teams_in_the_native_api_the_paas_api_and_the_ui(two_teams):
    client, t, services = two_teams
    launched = client.post("/api/v1/products/external/1/clusters", json={"master": "spark://10.0.0.5:7077"},
                           headers=bearer(t["alice"]))
    assert launched.status_code == 202
    cluster_id = launched.json()["id"]
    assert services.clusters.store.get(cluster_id).team_id == "red"
    assert client.get(f"/api/v1/clusters/{cluster_id}", headers=bearer(t["vic"])).status_code == 200
    for method, url in (("GET", f"/api/v1/clusters/{cluster_id}"), ("GET", f"/api/v1/clusters/{cluster_id}/nodes"),
                        ("DELETE", f"/api/v1/clusters/{cluster_id}"), ("POST", f"/api/v1/clusters/{cluster_id}/repair"),
                        ("GET", f"/bigdata/api/v1/queue/{cluster_id}"),
                        ("DELETE", f"/bigdata/api/v1/clusters/{cluster_id}"),
                        ("GET", "/bigdata/api/v1/clusters/alice/external/1/1"),
                        ("DELETE", "/bigdata/api/v1/clusters/alice/external/1/1")):
        answer = client.request(method, url, headers=bearer(t["bob"]))
        assert answer.status_code == 404, f"{method} {url}: {answer.status_code}"
    assert client.get("/api/v1/clusters", headers=bearer(t["bob"])).json()["clusters"] == []
    assert client.get("/bigdata/api/v1/clusters", headers=bearer(t["bob"])).json()["clusters"] == []
    # `{user}` is the user's name, and alice's clusters are red's: bob sees none of them.
    assert client.get(f"/bigdata/api/v1/clusters/{'alice'}", headers=bearer(t["bob"])).json()["clusters"] == []
    assert len(client.get("/bigdata/api/v1/clusters/alice", headers=bearer(t["vic"])).json()["clusters"]) == 1
    assert services.clusters.store.get(cluster_id).status != "destroyed"  # bob's deletes changed nothing
    assert client.delete(f"/api/v1/clusters/{cluster_id}", headers=bearer(t["rita"])).status_code == 403  # a runner


def test_a_cluster_over_its_teams_quota_waits_with_the_reason_and_other_teams_go_on(two_teams):
    client, t, services = two_teams
    services.teams.set_quotas("red", max_running_runs=None, max_cores=2, max_memory_mb=None)
    assert client.put("/api/v1/teams/red/quotas", json={"max_cores": 2}, headers=bearer(t["alice"])).status_code == 403
    # Types as declared, no coercion: `false` is no number of MiB, "2" no number of cores; nothing changes.
    for body in ({"max_memory_mb": False}, {"max_cores": "2"}, {"max_running_runs": 1.5}):
        refused = client.put("/api/v1/teams/red/quotas", json=body, headers=bearer(t["admin"]))
        assert refused.status_code == 422, (body, refused.text)
    assert services.clusters.store.team_room("red") == (2, None)
    launched = client.post("/api/v1/products/spark-standalone/4.3/clusters", json={"size": 2},
                           headers=bearer(t["alice"]))  # 3 nodes of 1 core: more than red's 2
    assert launched.status_code == 202
    services.clusters.schedule()  # the cluster duties' round (no duties run in this test)
    waiting = client.get(f"/api/v1/clusters/{launched.json()['id']}", headers=bearer(t["vic"])).json()
    assert waiting["status"] == "scheduling"
    assert "team red's quota" in waiting["reason"] and "3 cores" in waiting["reason"]
    assert services.clusters.store.team_room("red") == (2, None)
    assert services.clusters.store.team_room("blue") == (None, None)  # no quota


def wait_done(client, run_id, token, timeout=180.0):
    import time

    deadline = time.monotonic() + timeout
    while True:
        run = client.get(f"/api/v1/runs/{run_id}", headers=bearer(token)).json()
        if run["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


@pytest.fixture
def running_teams(services):
    """Two teams with the embedded worker running (runs execute)."""
    from stoker.app import Background

    services.teams.create("red")
    services.teams.create("blue")
    tokens = {
        "alice": services.tokens.create("alice", ["read", "submit"], user="alice", team="red", role="owner"),
        "erin": services.tokens.create("erin", ["read", "submit"], user="erin", team="red", role="editor"),
        "rita": services.tokens.create("rita", ["read", "submit"], user="rita", team="red", role="runner"),
        "vic": services.tokens.create("vic", ["read", "submit"], user="vic", team="red", role="viewer"),
        "bob": services.tokens.create("bob", ["read", "submit"], user="bob", team="blue", role="owner"),
        "admin": ADMIN_TOKEN,
    }
    with TestClient(create_app(services, background=Background(services, embedded_worker=True))) as client:
        yield client, tokens, services


def test_the_issues_four_things_bob_did_answer_404_and_work_for_alices_teammates(running_teams):
    """The issue: with tokens of `submit` and `read`, bob (team blue) read the result of alice's run,
    ran a pipeline over her file, rewrote and ran her nightly job, and nothing recorded it."""
    client, t, services = running_teams
    assert client.put("/api/v1/files/people.csv", content=PEOPLE, headers=bearer(t["alice"])).status_code == 201
    nightly = {"name": "alice-nightly", "steps": [["read_csv", "people.csv", {"header": True}], ["count"]]}
    assert client.post("/api/v1/jobs", json=nightly, headers=bearer(t["alice"])).status_code == 201
    run = client.post("/api/v1/jobs/alice-nightly/runs", json={}, headers=bearer(t["alice"])).json()
    done = wait_done(client, run["id"], t["alice"])
    assert done["state"] == "SUCCEEDED", done
    assert client.get(f"/api/v1/runs/{run['id']}/result", headers=bearer(t["alice"])).json()["result"]["count"] == 2

    # 1. bob reads the result of alice's run: 404, in every way a run is read.
    for url in (f"/api/v1/runs/{run['id']}", f"/api/v1/runs/{run['id']}/result", f"/api/v1/runs/{run['id']}/log",
                f"/api/v1/runs/{run['id']}/attempts/1", f"/jobs/status/{run['id']}",
                f"/api/v1/runs/{run['id']}/spark", f"/api/v1/runs/{run['id']}/progress"):
        assert client.get(url, headers=bearer(t["bob"])).status_code == 404, url
    assert client.get(f"/api/v1/runs/{run['id']}?wait_seconds=0.1", headers=bearer(t["bob"])).status_code == 404
    assert client.get("/api/v1/runs", headers=bearer(t["bob"])).json()["runs"] == []
    # Nor does he check a pipeline over her job (explain reads only his team's jobs and files).
    assert client.post("/api/v1/runs/explain", json={"job": "alice-nightly"},
                       headers=bearer(t["bob"])).status_code == 404
    assert client.post(f"/api/v1/runs/{run['id']}/retry", headers=bearer(t["bob"])).status_code == 404
    # 2. bob runs a pipeline over alice's file: his team has no such file; her root is outside his.
    red_file = str(services.roots.for_team("red").storage_root / "people.csv")
    for path in ("people.csv", red_file):
        answer = client.post("/api/v1/runs", json={"steps": [["read_csv", path], ["count"]]},
                             headers=bearer(t["bob"]))
        if answer.status_code == 201:  # queued: it must fail, never read her rows
            assert wait_done(client, answer.json()["id"], t["bob"])["state"] == "FAILED"
        else:
            assert answer.status_code in (400, 422), answer.text
    # 3. bob rewrites the steps of alice's nightly job, and runs it: 404, nothing changes.
    patched = client.patch("/api/v1/jobs/alice-nightly", json={"steps": [["range", 1], ["count"]]},
                           headers=bearer(t["bob"]))
    assert patched.status_code == 404
    assert client.post("/api/v1/jobs/alice-nightly/runs", json={}, headers=bearer(t["bob"])).status_code == 404
    job = client.get("/api/v1/jobs/alice-nightly", headers=bearer(t["alice"])).json()
    assert job["spec"]["steps"] == nightly["steps"]
    # 4. the audit log records who did what: alice's acts, and bob's refused attempts in blue's log.
    red_log = [(e["actor"], e["action"], e["status"])
               for e in client.get("/api/v1/audit", headers=bearer(t["alice"])).json()["entries"]]
    assert ("alice", "PATCH /api/v1/jobs/{job}", 200) not in red_log
    assert ("alice", "POST /api/v1/jobs/{job}/runs", 201) in red_log
    blue_log = [(e["actor"], e["action"], e["status"])
                for e in client.get("/api/v1/audit", headers=bearer(t["bob"])).json()["entries"]]
    assert ("bob", "PATCH /api/v1/jobs/{job}", 404) in blue_log

    # Alice's teammates, with the right role: a runner runs the job, an editor changes it.
    again = client.post("/api/v1/jobs/alice-nightly/runs", json={}, headers=bearer(t["rita"]))
    assert again.status_code == 201 and wait_done(client, again.json()["id"], t["rita"])["state"] == "SUCCEEDED"
    assert client.get(f"/api/v1/runs/{run['id']}/result", headers=bearer(t["vic"])).status_code == 200
    assert client.patch("/api/v1/jobs/alice-nightly", json={"description": "x"},
                        headers=bearer(t["erin"])).status_code == 200
    # The same job name in blue is blue's own.
    mine = {"name": "alice-nightly", "steps": [["range", 3], ["count"]]}
    assert client.post("/api/v1/jobs", json=mine, headers=bearer(t["bob"])).status_code == 201
    assert client.get("/api/v1/jobs/alice-nightly", headers=bearer(t["bob"])).json()["spec"]["steps"] == mine["steps"]
    # (and blue's ad-hoc runs have their own `adhoc` job)
    assert [j["name"] for j in client.get("/api/v1/jobs", headers=bearer(t["bob"])).json()["jobs"]] == \
        ["adhoc", "alice-nightly"]


def test_run_events_on_the_stream_and_webhooks_are_the_teams_own(running_teams):
    client, t, services = running_teams
    from stoker.store.outbox import read_events

    red = client.post("/api/v1/runs", json={"steps": [["noop"]]}, headers=bearer(t["alice"])).json()
    blue = client.post("/api/v1/runs", json={"steps": [["noop"]]}, headers=bearer(t["bob"])).json()
    wait_done(client, red["id"], t["alice"])
    wait_done(client, blue["id"], t["bob"])
    events = read_events(services.db, 0, 10**9, limit=1000)
    assert {e.team for e in events if e.run_id == red["id"]} == {"red"}
    assert {e.team for e in events if e.run_id == blue["id"]} == {"blue"}
    only_blue = read_events(services.db, 0, 10**9, limit=1000, team="blue")
    assert only_blue and all(e.run_id != red["id"] for e in only_blue)
    hook = client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=bearer(t["bob"])).json()
    assert client.get(f"/api/v1/webhooks/{hook['id']}", headers=bearer(t["alice"])).status_code == 404
    assert client.get("/api/v1/webhooks", headers=bearer(t["alice"])).json()["webhooks"] == []
    from stoker.sinks.webhooks import WebhookStore

    [active] = WebhookStore(services.db, services.secrets).active()
    assert active.team == "blue"
    assert [active.wants(e) for e in events if e.run_id in (red["id"], blue["id"]) and e.event == "queued"] == \
        [False, True]
