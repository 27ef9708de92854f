"""The web UI through the app (TestClient): sign-in and sessions, CSRF, scopes, escaping, and every page."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN, wait_for_state
from stoker.app import Background, create_app


@pytest.fixture
def ui(services):
    app = create_app(services, background=Background(services, embedded_worker=True))
    with TestClient(app, follow_redirects=False) as client:
        yield client


def sign_in(client: TestClient, token: str = ADMIN_TOKEN) -> str:
    """Sign in; return the CSRF token the pages carry."""
    response = client.post("/ui/sign-in", data={"token": token, "next": "/ui/runs"})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/ui/runs"
    page = client.get("/ui/runs")
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def test_pages_need_a_session_and_sign_in_sets_a_strict_httponly_cookie(ui):
    response = ui.get("/ui/runs?state=FAILED")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/ui/sign-in?next=/ui/runs")
    refused = ui.post("/ui/sign-in", data={"token": "stk_wrong"})
    assert refused.status_code == 401 and "unknown or revoked" in refused.text
    ok = ui.post("/ui/sign-in", data={"token": ADMIN_TOKEN, "next": "https://evil.example/"})
    assert ok.headers["location"] == "/ui/"  # never off-site
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Path=/ui" in cookie
    page = ui.get("/ui/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_sign_out_revokes_the_session_server_side(ui):
    csrf = sign_in(ui)
    session_id = ui.cookies.get("stoker_session")
    assert ui.post("/ui/sign-out", data={"csrf_token": csrf}).status_code == 303
    ui.cookies.set("stoker_session", session_id, path="/ui")  # replaying the old cookie
    assert ui.get("/ui/").status_code == 303


def test_sessions_expire_and_end_with_their_token(services, ui):
    from stoker.store.ui_sessions import UiSessionStore

    token = services.tokens.create("short-lived", ["read"])
    principal = services.tokens.lookup(token)
    clock = [1000.0]
    store = UiSessionStore(services.db, clock=lambda: clock[0])
    session_id, _ = store.open(principal, ttl_seconds=60)
    assert store.lookup(session_id) is not None
    clock[0] += 61
    assert store.lookup(session_id) is None  # expired
    clock[0] = 1000.0
    services.tokens.revoke(principal.token_id)
    assert store.lookup(session_id) is None  # its token was revoked


def test_the_serve_process_prunes_expired_sessions(services):
    """Background's hourly duty forgets expired sessions (signed out or not) and keeps live ones."""
    import sqlalchemy as sa

    from stoker.store.tables import ui_sessions
    from stoker.store.ui_sessions import UiSessionStore

    principal = services.tokens.lookup(ADMIN_TOKEN)
    store = UiSessionStore(services.db)
    live, _ = store.open(principal, ttl_seconds=3600)
    store.open(principal, ttl_seconds=-1)  # expired
    signed_out, _ = store.open(principal, ttl_seconds=-1)
    store.close(signed_out)
    background = Background(services, embedded_worker=False, cluster_duties=False)
    assert background.session_pruner.round() == 2
    with services.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ui_sessions)).scalar() == 1
    assert store.lookup(live) is not None


def test_actions_need_the_csrf_token_and_the_scope(services, ui):
    sign_in(ui)
    forged = ui.post("/ui/runs", data={"steps": '[["noop"]]'})
    assert forged.status_code == 403 and "CSRF" in forged.text
    wrong = ui.post("/ui/runs", data={"steps": '[["noop"]]', "csrf_token": "guess"})
    assert wrong.status_code == 403

    reader = TestClient(ui.app, follow_redirects=False)
    csrf = sign_in(reader, services.tokens.create("reader", ["read"]))
    for path in ("/ui/runs", "/ui/jobs", "/ui/dead-letters"):
        page = reader.get(path).text
        # The only action a read token is offered is signing out.
        assert re.findall(r'<form method="post" action="([^"]+)"', page) == ["/ui/sign-out"], path
    refused = reader.post("/ui/runs", data={"steps": '[["noop"]]', "csrf_token": csrf})
    assert refused.status_code == 403 and "&#39;submit&#39; scope" in refused.text
    assert reader.get("/ui/tokens").status_code == 403
    assert services.runs.list()[0] == []  # nothing was queued


def test_values_are_escaped(services, ui):
    csrf = sign_in(ui)
    response = ui.post("/ui/jobs", data={"csrf_token": csrf, "name": "esc", "steps": '[["noop"]]',
                                         "description": "<script>alert(1)</script>"})
    assert response.status_code == 303
    page = ui.get("/ui/jobs").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_job_form_shows_catalog_problems_next_to_the_step(ui):
    csrf = sign_in(ui)
    response = ui.post("/ui/jobs", data={"csrf_token": csrf, "name": "bad",
                                         "steps": '[["range", 5], ["no_such_function"], ["count"]]'})
    assert response.status_code == 422
    assert 'id="step-problems"' in response.text and "step 1" in response.text
    assert "no_such_function" in response.text


def test_submit_retry_and_every_page(services, ui):
    csrf = sign_in(ui)
    done = ui.post("/ui/runs", data={"csrf_token": csrf, "steps": '[["fail", "broken on purpose"]]'})
    assert done.status_code == 303
    run_id = done.headers["location"].rsplit("/", 1)[1]
    api = TestClient(ui.app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    run = wait_for_state(api, run_id)
    assert run["state"] == "FAILED"
    page = ui.get(f"/ui/runs/{run_id}").text
    assert "broken on purpose" in page and 'id="run-error"' in page
    # Retry until the attempts are used up: the refusal is shown in words, with the 409.
    for _ in range(5):
        answer = ui.post(f"/ui/runs/{run_id}/retry", data={"csrf_token": csrf, "back": "/ui/dead-letters"})
        if answer.status_code == 409:
            assert "used all" in answer.text
            break
        assert answer.status_code == 303
        wait_for_state(api, run_id)
    else:
        pytest.fail("retry was never refused")
    assert run_id[:8] in ui.get("/ui/dead-letters").text
    for path in ("/ui/", "/ui/runs", "/ui/runs?job=adhoc&state=FAILED", "/ui/jobs", "/ui/jobs/new",
                 "/ui/functions", "/ui/dead-letters", "/ui/tokens", "/ui/spark", f"/ui/runs/{run_id}/log"):
        assert ui.get(path).status_code == 200, path
    assert ui.get("/ui/runs/nope").status_code == 404
    assert ui.get("/ui/runs?state=BOGUS").status_code == 422


def test_tokens_are_shown_once_and_revocable(services, ui):
    csrf = sign_in(ui)
    page = ui.post("/ui/tokens", data={"csrf_token": csrf, "name": "ci", "scopes": ["read", "submit"]})
    token = re.search(r'<pre class="token">([^<]+)</pre>', page.text).group(1)
    assert services.tokens.lookup(token).scopes == {"read", "submit"}
    assert token not in ui.get("/ui/tokens").text
    token_id = services.tokens.lookup(token).token_id
    assert ui.post(f"/ui/tokens/{token_id}/revoke", data={"csrf_token": csrf}).status_code == 303
    assert services.tokens.lookup(token) is None


def test_runs_filter_by_time_and_bad_filters_are_refused(services, ui):
    from stoker.store.runs import NewRun
    from stoker.store.tables import runs

    sign_in(ui)
    old, new = (s.run_id for s in services.runs.submit(None, [NewRun(steps=[["noop"]]), NewRun(steps=[["noop"]])]))
    with services.db.write() as conn:  # one run was queued two days ago
        conn.execute(runs.update().where(runs.c.id == old).values(queued_at=runs.c.queued_at - 2 * 86400))
    page = ui.get("/ui/runs?since=24h").text
    assert new[:8] in page and old[:8] not in page
    page = ui.get("/ui/runs?since=7d").text
    assert new[:8] in page and old[:8] in page
    for bad in ("since=1y", "state=BOGUS", "cursor=abc", "limit=0"):
        assert ui.get(f"/ui/runs?{bad}").status_code == 422, bad


def test_the_run_page_lists_its_spark_settings_and_where_each_came_from(services, ui):
    sign_in(ui)
    api = TestClient(ui.app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    api.post("/api/v1/jobs", json={"name": "tz", "steps": [["noop"]], "conf": {"spark.sql.session.timeZone": "UTC"}})
    run = api.post("/api/v1/jobs/tz/runs", json={"conf": {"spark.sql.shuffle.partitions": 8}}).json()
    page = ui.get(f"/ui/runs/{run['id']}").text
    table = page[page.index('id="run-conf"'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r"<tr><td><code>([^<]+)</code></td><td><code>([^<]+)</code></td><td>(\w+)</td></tr>", table)
    assert rows == [("spark.sql.session.timeZone", "UTC", "job"), ("spark.sql.shuffle.partitions", "8", "run")]
