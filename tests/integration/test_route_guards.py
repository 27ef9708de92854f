"""Every route the app registers is guarded, proven by enumeration: without credentials it answers
401, and with a token holding every scope but the one it needs, 403. A route must either depend on
`require(scope)` or be on the explicit allow-list below; a new route with neither fails here."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from stoker.api.auth import route_scopes
from stoker.app import create_app
from stoker.store.tokens import SCOPES

# Open on purpose: the liveness probe, and the API's own documentation.
OPEN_ROUTES = {"/healthz", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"}
# The web UI's own guard is the session cookie (stoker.ui.session), checked below: open are only its
# sign-in page (and the two steps of signing in through an OIDC provider), its static files and the
# redirect from / to it.
UI_OPEN_ROUTES = {"/", "/ui/sign-in", "/ui/static", "/ui/oidc/start", "/ui/oidc/callback"}


def is_ui(path: str) -> bool:
    return path == "/" or path.startswith("/ui/")


def guarded_routes(app) -> list[tuple[str, str, str]]:
    """(method, path, scope) for every method of every route; fails on a route without a decision."""
    found, undecided = [], []
    for path, methods, scopes in route_scopes(app.routes):
        if path in OPEN_ROUTES or is_ui(path):
            continue
        if len(scopes) != 1:
            undecided.append(f"{methods} {path}: scopes {sorted(scopes)}")
            continue
        scope = scopes.pop()
        found += [(method, path, scope) for method in methods if method != "HEAD"]
    assert not undecided, "routes with no (or more than one) scope decision:\n" + "\n".join(undecided)
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


@pytest.fixture
def app_client(services):
    app = create_app(services)  # no background duties: only the guards are under test
    with TestClient(app) as client:
        yield app, client


def test_every_route_demands_its_scope(app_client, services):
    app, client = app_client
    routes = guarded_routes(app)
    assert len(routes) >= 30  # the enumeration really walked the app
    tokens = {scope: services.tokens.create(f"all-but-{scope}", [s for s in SCOPES if s not in (scope, "admin")])
              for scope in SCOPES if scope != "admin"}
    checked = 0
    for method, path, scope in routes:
        url = concrete(path)
        response = client.request(method, url, json={})
        assert response.status_code == 401, f"{method} {path} without a token: {response.status_code}"
        if scope == "admin":
            others = services.tokens.create("no-admin", [s for s in SCOPES if s != "admin"])
        else:
            others = tokens[scope]
        response = client.request(method, url, json={}, headers={"Authorization": f"Bearer {others}"})
        assert response.status_code == 403, f"{method} {path} without scope {scope}: {response.status_code}"
        checked += 1
    assert checked == len(routes)


def test_a_route_without_a_scope_decision_is_caught(services):
    app = create_app(services)

    @app.get("/api/v1/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    with pytest.raises(AssertionError, match="/api/v1/forgotten"):
        guarded_routes(app)


def test_every_ui_route_demands_a_session(app_client):
    """Without a session, a page sends the browser to sign in and an action changes nothing; what a
    signed-in session may do (CSRF, scopes) is tested in tests/ui."""
    from fastapi.routing import iter_route_contexts

    from stoker.ui.session import current_session

    app, client = app_client
    checked = 0
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if not is_ui(path) or path in UI_OPEN_ROUTES:
            continue
        calls = [dep.call for dep in route.dependant.dependencies]
        assert current_session in calls, f"{path} does not depend on the UI session"
        for method in sorted(route.methods - {"HEAD"}):
            response = client.request(method, concrete(path), follow_redirects=False)
            assert response.status_code == 303, f"{method} {path} without a session: {response.status_code}"
            assert response.headers["location"].startswith("/ui/sign-in")
            checked += 1
    assert checked >= 20
