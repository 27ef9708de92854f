"""A person signs in to the UI through a real OpenID Connect provider (panva's oidc-provider, run
by node from tests/oidc/, as scripts/oidc_provider.sh installs it): the Authorization Code flow with
PKCE, which that provider requires of its public client; the provider's groups become teams and
roles here; the sign-in is in the audit log; a replayed or foreign answer opens no session.

The person's browser is an HTTP client with a cookie jar that follows the provider's pages and
fills in its sign-in and consent forms; Stoker is the app under a TestClient (as the other UI tests).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import IN_CI, make_services
from harness import free_port, wait_for
from stoker.app import create_app

OIDC_DIR = Path(__file__).resolve().parents[1] / "oidc"
GROUPS = "red-owners=red:owner, red-runners=red:runner, blue-viewers=blue:viewer, platform=*:admin"
STOKER = "http://testserver"


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    node = shutil.which("node")
    if node is None or not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        message = "the test OIDC provider is not installed (scripts/oidc_provider.sh)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    accounts = tmp_path_factory.mktemp("oidc") / "accounts.json"
    accounts.write_text("{}")
    port = free_port()
    log = (accounts.parent / "provider.log").open("wb")
    process = subprocess.Popen([node, str(OIDC_DIR / "provider.mjs")], cwd=OIDC_DIR,
                               env={**os.environ, "PORT": str(port), "ACCOUNTS_FILE": str(accounts),
                                    "REDIRECT_URI": f"{STOKER}/ui/oidc/callback"},
                               stdout=log, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=30, what="the OIDC provider")
        yield issuer, accounts
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def stoker(provider, tmp_path):
    issuer, accounts = provider
    services = make_services(tmp_path / "data", oidc_issuer=issuer, oidc_groups=GROUPS)
    with TestClient(create_app(services), base_url=STOKER) as client:
        yield client, services, accounts
    services.close()


def person_signs_in(client: TestClient, login: str) -> httpx.Response:
    """What a person does: open Stoker's sign-in, go to the provider, sign in there, consent; the
    provider sends them back to Stoker, whose answer is returned."""
    page = client.get("/ui/sign-in")
    assert 'id="oidc-sign-in"' in page.text
    start = client.get(re.search(r'href="(/ui/oidc/start[^"]*)"', page.text).group(1).replace("&amp;", "&"),
                       follow_redirects=False)
    assert start.status_code == 303
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        location = start.headers["location"]
        for _ in range(12):  # the provider's pages, until it sends the browser back to Stoker
            if location.startswith(STOKER):
                break
            page = browser.get(location)
            if page.status_code in (302, 303):
                location = httpx.URL(location).join(page.headers["location"]).__str__()
                continue
            assert page.status_code == 200, page.text[:500]
            action = re.search(r'<form[^>]*action="([^"]+)"', page.text).group(1)
            if 'name="login"' in page.text:
                form = {"prompt": "login", "login": login, "password": "any"}
            else:
                form = {"prompt": "consent"}
            answer = browser.post(httpx.URL(location).join(action), data=form)
            assert answer.status_code in (302, 303), answer.text[:500]
            location = str(httpx.URL(location).join(answer.headers["location"]))
        assert location.startswith(f"{STOKER}/ui/oidc/callback"), location
    return client.get(location.removeprefix(STOKER), follow_redirects=False)


def test_a_person_signs_in_through_the_provider_with_their_groups_as_teams(stoker):
    client, services, accounts = stoker
    accounts.write_text(json.dumps({"alice": {"groups": ["red-owners", "blue-viewers", "knitting"]}}))
    answer = person_signs_in(client, "alice")
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
    assert "stoker_session" in answer.headers["set-cookie"] and "HttpOnly" in answer.headers["set-cookie"]
    overview = client.get("/ui/")
    assert overview.status_code == 200 and "alice" in overview.text
    roles = {(m.team, m.role, m.source) for m in services.teams.memberships_of("alice")}
    assert roles == {("red", "owner", "oidc"), ("blue", "viewer", "oidc")}
    # Her session acts in the team where her role is highest, with that role.
    session = client.app.state.ui_sessions.lookup(client.cookies["stoker_session"])
    assert (session.principal.user, session.principal.team, session.principal.role) == ("alice", "red", "owner")
    assert not session.principal.admin
    client.app.state.audit_writer.flush()
    signed_in = services.audit.query(team="red", action="sign-in")
    assert [(e.actor, e.detail["via"]) for e in signed_in] == [("alice", "oidc")]

    # Her groups change at the provider: the next sign-in follows (a membership set by hand stays).
    services.teams.create("green")
    services.teams.set_member("green", "alice", "editor")
    old_cookie = client.cookies["stoker_session"]
    client.post("/ui/sign-out", data={"csrf_token": session.csrf_token})
    assert client.app.state.ui_sessions.lookup(old_cookie) is None
    # The token made for the session ended with it.
    assert [t["revoked"] for t in services.tokens.list() if t["id"] == session.principal.token_id] == [True]
    accounts.write_text(json.dumps({"alice": {"groups": ["red-runners"]}}))
    assert person_signs_in(client, "alice").status_code == 303
    roles = {(m.team, m.role, m.source) for m in services.teams.memberships_of("alice")}
    assert roles == {("red", "runner", "oidc"), ("green", "editor", "manual")}


def test_an_admin_group_makes_a_server_admin_and_no_group_no_session(stoker):
    client, services, accounts = stoker
    accounts.write_text(json.dumps({"olga": {"groups": ["platform"]}, "mallory": {"groups": ["knitting"]}}))
    assert person_signs_in(client, "olga").status_code == 303
    session = client.app.state.ui_sessions.lookup(client.cookies["stoker_session"])
    assert session.principal.admin and session.principal.user == "olga"
    client.cookies.clear()
    refused = person_signs_in(client, "mallory")
    assert (refused.status_code == 403 and "no team" not in refused.text) or "STOKER_OIDC_GROUPS" in refused.text
    assert "stoker_session" not in refused.headers.get("set-cookie", "")
    assert services.teams.memberships_of("mallory") == []


def test_the_provider_requires_pkce_and_a_foreign_or_replayed_answer_opens_no_session(stoker, provider):
    client, _services, accounts = stoker
    issuer, _ = provider
    accounts.write_text(json.dumps({"alice": {"groups": ["red-owners"]}}))
    # Without a code challenge the provider refuses to start (so Stoker's sign-in, which works, sent one).
    start = client.get("/ui/oidc/start", follow_redirects=False).headers["location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(start).query).items()}
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    del query["code_challenge"], query["code_challenge_method"]
    bare = httpx.get(f"{issuer}/auth", params=query, follow_redirects=False)
    assert bare.status_code == 303 and "requires+PKCE" in bare.headers["location"]
    # The provider's refusal, back at Stoker: said, and no session.
    refused = client.get(bare.headers["location"].removeprefix(STOKER), follow_redirects=False)
    assert refused.status_code == 403 and "PKCE" in refused.text and "stoker_session" not in client.cookies

    answer = person_signs_in(client, "alice")
    assert answer.status_code == 303
    callback = answer.request.url.path + "?" + answer.request.url.query.decode()
    client.cookies.clear()
    # The same answer again, in a browser that did not start it: no flow cookie.
    assert client.get(callback, follow_redirects=False).status_code == 422
    # A state that is not the flow's.
    client.get("/ui/oidc/start", follow_redirects=False)
    forged = re.sub(r"state=[^&]+", "state=forged", callback)
    assert client.get(forged, follow_redirects=False).status_code == 422
    assert "stoker_session" not in client.cookies
