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


def guarded_routes(app) -> list[tuple[str, str, str]]:
    """(method, path, scope) for every method of every route; fails on a route without a decision."""
    found, undecided = [], []
    for path, methods, scopes in route_scopes(app.routes):
        if path in OPEN_ROUTES:
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
