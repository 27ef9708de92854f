"""Teams, roles and the audit log over HTTP (docs/teams.md): what each role may do in its team, the
teams and members API, tokens made by owners, and the audit log of who did what."""

from __future__ import annotations

import time

import orjson
import pytest
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN
from stoker.app import create_app

JOB = {"name": "nightly", "steps": [["noop"]]}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def teams(services):
    """Team red (alice owner, erin editor, rita runner, vic viewer) and team blue (bob owner)."""
    services.teams.create("red")
    services.teams.create("blue")
    made = {
        "alice": services.tokens.create("alice", ["read", "submit"], user="alice", team="red", role="owner"),
        "erin": services.tokens.create("erin", ["read", "submit"], user="erin", team="red", role="editor"),
        "rita": services.tokens.create("rita", ["read", "submit"], user="rita", team="red", role="runner"),
        "vic": services.tokens.create("vic", ["read", "submit"], user="vic", team="red", role="viewer"),
        "bob": services.tokens.create("bob", ["read", "submit"], user="bob", team="blue", role="owner"),
        "admin": ADMIN_TOKEN,
    }
    app = create_app(services)  # no worker: runs stay QUEUED, which is all these tests need
    with TestClient(app) as client:
        yield client, made


def test_each_role_does_what_the_role_table_says_and_no_more(teams):
    client, t = teams
    refused = client.post("/api/v1/jobs", json=JOB, headers=bearer(t["rita"]))
    assert refused.status_code == 403
    assert "editor" in refused.json()["detail"] and "runner" in refused.json()["detail"]
    assert client.post("/api/v1/jobs", json=JOB, headers=bearer(t["erin"])).status_code == 201
    assert client.get("/api/v1/jobs/nightly", headers=bearer(t["vic"])).status_code == 200
    assert client.post("/api/v1/jobs/nightly/runs", json={}, headers=bearer(t["vic"])).status_code == 403
    run = client.post("/api/v1/jobs/nightly/runs", json={}, headers=bearer(t["rita"]))
    assert run.status_code == 201
    assert client.post(f"/api/v1/runs/{run.json()['id']}/cancel", headers=bearer(t["vic"])).status_code == 403
    assert client.post(f"/api/v1/runs/{run.json()['id']}/cancel", headers=bearer(t["rita"])).status_code == 200
    assert client.patch("/api/v1/jobs/nightly", json={"description": "x"}, headers=bearer(t["rita"])).status_code == 403
    assert client.patch("/api/v1/jobs/nightly", json={"description": "x"}, headers=bearer(t["erin"])).status_code == 200
    # Members are the owner's: an editor may not add one.
    assert client.put("/api/v1/teams/red/members/zed", json={"role": "viewer"},
                      headers=bearer(t["erin"])).status_code == 403


def test_who_am_i_and_the_teams_a_user_sees(teams, services):
    client, t = teams
    me = client.get("/api/v1/me", headers=bearer(t["rita"])).json()
    assert (me["user"], me["team"], me["role"], me["admin"]) == ("rita", "red", "runner", False)
    assert [m["team"] for m in me["teams"]] == ["red"]
    assert [x["id"] for x in client.get("/api/v1/teams", headers=bearer(t["rita"])).json()["teams"]] == ["red"]
    everyone = {x["id"] for x in client.get("/api/v1/teams", headers=bearer(t["admin"])).json()["teams"]}
    assert everyone == {"default", "red", "blue"}
    # Another team is not found, whatever the role; an admin sees it.
    assert client.get("/api/v1/teams/blue", headers=bearer(t["alice"])).status_code == 404
    assert client.get("/api/v1/teams/blue/members", headers=bearer(t["alice"])).status_code == 404
    blue = client.get("/api/v1/teams/blue", headers=bearer(t["admin"])).json()
    assert [(m["user"], m["role"]) for m in blue["members"]] == [("bob", "owner")]


def test_admins_make_teams_and_owners_manage_their_members(teams):
    client, t = teams
    assert client.post("/api/v1/teams", json={"name": "green"}, headers=bearer(t["alice"])).status_code == 403
    assert client.post("/api/v1/teams", json={"name": "Not OK"}, headers=bearer(t["admin"])).status_code == 422
    assert client.post("/api/v1/teams", json={"name": "green"}, headers=bearer(t["admin"])).status_code == 201
    assert client.post("/api/v1/teams", json={"name": "green"}, headers=bearer(t["admin"])).status_code == 409
    added = client.put("/api/v1/teams/red/members/zed", json={"role": "runner"}, headers=bearer(t["alice"]))
    assert added.status_code == 200 and added.json()["role"] == "runner"
    assert client.put("/api/v1/teams/red/members/zed", json={"role": "boss"},
                      headers=bearer(t["alice"])).status_code == 422
    # Bob owns blue, not red: red is not found for him.
    assert client.put("/api/v1/teams/red/members/bob", json={"role": "owner"},
                      headers=bearer(t["bob"])).status_code == 404
    # The last owner stays.
    last = client.put("/api/v1/teams/red/members/alice", json={"role": "viewer"}, headers=bearer(t["alice"]))
    assert last.status_code == 409 and "last owner" in last.json()["detail"]
    assert client.delete("/api/v1/teams/red/members/alice", headers=bearer(t["alice"])).status_code == 409
    assert client.delete("/api/v1/teams/red/members/zed", headers=bearer(t["alice"])).status_code == 204
    assert client.delete("/api/v1/teams/red/members/zed", headers=bearer(t["alice"])).status_code == 404
    # A removed member's token loses its role at once (the token cache holds seconds: wait it out).
    assert client.delete("/api/v1/teams/red/members/vic", headers=bearer(t["alice"])).status_code == 204
    time.sleep(2.1)
    gone = client.get("/api/v1/jobs", headers=bearer(t["vic"]))
    assert gone.status_code == 403 and "not a member" in gone.json()["detail"]


def test_owners_make_and_revoke_their_teams_tokens(teams):
    client, t = teams
    made = client.post("/api/v1/tokens", json={"name": "ci", "user": "ci-bot", "scopes": ["read", "submit"],
                                               "role": "runner"}, headers=bearer(t["alice"]))
    assert made.status_code == 201 and made.json()["team"] == "red"
    token = made.json()["token"]
    assert client.get("/api/v1/me", headers=bearer(token)).json()["role"] == "runner"
    assert client.post("/api/v1/tokens", json={"name": "x", "user": "x", "scopes": ["admin"]},
                       headers=bearer(t["alice"])).status_code == 422
    listed = client.get("/api/v1/tokens", headers=bearer(t["alice"])).json()["tokens"]
    assert {x["team"] for x in listed} == {"red"} and "token" not in listed[0] and "token_hash" not in listed[0]
    ci = next(x for x in listed if x["user"] == "ci-bot")
    blue_tokens = client.get("/api/v1/tokens", headers=bearer(t["bob"])).json()["tokens"]
    assert client.delete(f"/api/v1/tokens/{blue_tokens[0]['id']}", headers=bearer(t["alice"])).status_code == 404
    assert client.delete(f"/api/v1/tokens/{ci['id']}", headers=bearer(t["alice"])).status_code == 204
    time.sleep(2.1)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_the_audit_log_says_who_did_what_when_from_where_per_team(teams, services):
    client, t = teams
    start = time.time()
    assert client.post("/api/v1/jobs", json=JOB, headers=bearer(t["erin"])).status_code == 201
    run = client.post("/api/v1/jobs/nightly/runs", json={}, headers=bearer(t["rita"])).json()  # a quick route
    client.post(f"/api/v1/runs/{run['id']}/cancel", headers=bearer(t["vic"]))  # refused: recorded as such
    client.post("/api/v1/jobs", json={**JOB, "name": "blue-job"}, headers=bearer(t["bob"]))
    client.post("/api/v1/tokens", json={"name": "ci", "user": "ci-bot", "scopes": ["read"]}, headers=bearer(t["alice"]))
    assert client.get("/api/v1/audit", headers=bearer(t["erin"])).status_code == 403  # owners and admins only

    red = client.get("/api/v1/audit", headers=bearer(t["alice"])).json()["entries"]
    acts = [(e["actor"], e["action"], e["status"]) for e in red]
    assert ("erin", "POST /api/v1/jobs", 201) in acts
    assert ("rita", "POST /api/v1/jobs/{job}/runs", 201) in acts
    assert ("vic", "POST /api/v1/runs/{run_id}/cancel", 403) in acts
    assert ("alice", "token.create", None) in acts and ("alice", "POST /api/v1/tokens", 201) in acts
    assert all(e["team"] == "red" for e in red)  # bob's act is blue's, not shown to red's owner
    entry = next(e for e in red if e["actor"] == "rita")
    assert entry["target"] == "/api/v1/jobs/nightly/runs" and entry["source"] == "testclient"
    assert entry["detail"] == {"params": {"job": "nightly"}} and entry["at"] >= start
    blue = client.get("/api/v1/audit", headers=bearer(t["bob"])).json()["entries"]
    assert [(e["actor"], e["action"]) for e in blue] == [("cli", "token.create"), ("bob", "POST /api/v1/jobs")]
    everyone = client.get("/api/v1/audit", headers=bearer(t["admin"])).json()["entries"]
    assert {e["team"] for e in everyone} >= {"red", "blue"}
    only_rita = client.get("/api/v1/audit", params={"actor": "rita"}, headers=bearer(t["alice"])).json()["entries"]
    assert [e["actor"] for e in only_rita] == ["rita"]
    # The NDJSON export: every entry, one a line, the same as the JSON pages.
    export = client.get("/api/v1/audit", headers={**bearer(t["alice"]), "Accept": "application/x-ndjson"})
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in export.content.splitlines()]
    assert lines == red
    # Reads are not recorded; a secret sent in a body never is (only the route, path and status).
    assert not any(e["action"].startswith("GET ") for e in everyone)


def test_tokens_made_on_the_command_line_are_in_the_audit_log(services):
    made = services.tokens.create("laptop", ["read"], user="carol")
    entries = services.audit.query(team=None, actor="cli")
    assert [(e.action, e.detail["user"]) for e in entries] == [("token.create", "carol")]
    token_id = next(x["id"] for x in services.tokens.list() if x["user"] == "carol")
    assert services.tokens.revoke(token_id)
    assert [e.action for e in services.audit.query(team=None, actor="cli")] == ["token.create", "token.revoke"]
    assert made not in str([e.view() for e in services.audit.query(team=None)])  # the token itself never


def test_audit_entries_past_the_retention_are_deleted(services):
    from stoker.store.audit import AuditEntry, audit_pruner

    services.audit.append([AuditEntry(actor="old", team="default", action="x", at=time.time() - 40 * 86400),
                           AuditEntry(actor="new", team="default", action="x")])
    pruner = audit_pruner(services.db, 30 * 86400)
    pruner.round()
    assert [e.actor for e in services.audit.query(team="default", action="x")] == ["new"]
    audit_pruner(services.db, 0).round()  # 0 keeps everything
    assert [e.actor for e in services.audit.query(team="default", action="x")] == ["new"]


def test_a_ui_sign_in_is_in_the_audit_log(teams, services):
    client, t = teams
    response = client.post("/ui/sign-in", data={"token": t["rita"], "next": "/ui/"}, follow_redirects=False)
    assert response.status_code == 303
    entries = client.get("/api/v1/audit", params={"action": "POST /ui/sign-in"}, headers=bearer(t["alice"])).json()
    assert [(e["actor"], e["status"]) for e in entries["entries"]] == [("rita", 303)]


def test_the_command_line_makes_teams_members_and_tokens_of_a_team(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from stoker.cli import main
    from stoker.store.db import Database
    from stoker.store.teams import TeamStore
    from stoker.store.tokens import TokenStore

    monkeypatch.setenv("STOKER_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(main, ["team", "create", "red"]).exit_code == 0
    assert runner.invoke(main, ["team", "create", "Red Team"]).exit_code == 2  # not URL-safe: said, nothing made
    made = runner.invoke(main, ["token", "create", "alice", "--scope", "read", "--scope", "submit", "--user", "alice",
                                "--team", "red", "--role", "runner"])
    assert made.exit_code == 0, made.output
    assert runner.invoke(main, ["token", "create", "x", "--scope", "read", "--team", "nope"]).exit_code == 2
    assert runner.invoke(main, ["team", "member", "red", "vic", "viewer"]).exit_code == 0
    listed = runner.invoke(main, ["team", "list"]).output
    assert "alice (runner), vic (viewer)" in listed and "admin (owner)" in listed
    db = Database(f"sqlite:///{tmp_path / 'stoker.db'}")
    try:
        principal = TokenStore(db).lookup(made.output.strip())
        assert principal is not None and (principal.user, principal.team, principal.role) == ("alice", "red", "runner")
        assert runner.invoke(main, ["team", "member", "red", "vic", "none"]).exit_code == 0
        assert [m.user for m in TeamStore(db).members("red")] == ["alice"]
    finally:
        db.dispose()


def _documented(client: TestClient, path: str, method: str) -> set[int]:
    operation = client.get("/openapi.json").json()["paths"][path][method]
    return {int(code) for code in operation["responses"]}


def test_the_conflicts_of_teams_tokens_and_products_are_documented_answers(teams):
    """A 409 that the OpenAPI document does not name breaks generated clients (schemathesis' ST103
    found POST /teams): each conflict these routes give is in their documented responses."""
    client, t = teams
    admin = bearer(t["admin"])
    again = client.post("/api/v1/teams", json={"name": "red"}, headers=admin)
    assert again.status_code == 409 and "exists" in again.json()["detail"]
    assert 409 in _documented(client, "/api/v1/teams", "post")
    # rita holds a live token of red already: a second one for her is refused.
    taken = client.post("/api/v1/tokens", json={"name": "x", "user": "rita", "scopes": ["read"]},
                        headers=bearer(t["alice"]))
    assert taken.status_code == 409 and "taken" in taken.json()["detail"]
    assert 409 in _documented(client, "/api/v1/tokens", "post")
    product = {"name": "spark", "version": "9.9", "description": "d", "logo_url": "http://x/l.png"}
    for path in ("/api/v1/products", "/bigdata/api/v1/products"):
        first = client.post(path, json=product, headers=admin)
        second = client.post(path, json=product, headers=admin)
        assert first.status_code in (201, 409) and second.status_code == 409, (path, second.text)
        assert 409 in _documented(client, path, "post")
