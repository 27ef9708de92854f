"""The quick routes (api/fastpath.py QuickRoute) answer exactly what their operations' own routes
answer, for every kind of request: the same status, body and headers, refusals included. Each
request is sent to two apps on one database, one with the quick routes and one without."""

from __future__ import annotations

import msgspec
import pytest
from fastapi.testclient import TestClient
from tests.conftest import ADMIN_TOKEN, make_services

from stoker.api.fastpath import QuickRoute, install_quick_routes
from stoker.app import create_app

VOLATILE = {"date", "x-request-id", "content-length"}


@pytest.fixture
def apps(tmp_path, backend_url):
    """Both apps on one database: SQLite (quick reads through sqlite3) or PostgreSQL (quick reads
    through the loop's psycopg pool, opened by the app's lifespan)."""
    services = make_services(tmp_path / "data", database_url=backend_url)
    quick = create_app(services)
    plain = create_app(services)
    plain.router.routes[:] = [r for r in plain.router.routes if not isinstance(r, QuickRoute)]
    assert sum(isinstance(r, QuickRoute) for r in quick.router.routes) == 4
    with TestClient(quick) as q, TestClient(plain) as p:
        assert (services.db.loop_pool() is None) and services.db.is_sqlite == (backend_url is None)
        yield q, p, services
    services.close()


def _same(quick: TestClient, plain: TestClient, method: str, url: str, **kwargs) -> int:
    a = quick.request(method, url, **kwargs)
    b = plain.request(method, url, **kwargs)
    assert (a.status_code, a.content) == (b.status_code, b.content), (method, url, kwargs)
    assert {k: v for k, v in a.headers.items() if k not in VOLATILE} == \
        {k: v for k, v in b.headers.items() if k not in VOLATILE}, (method, url, kwargs)
    return a.status_code


def test_quick_reads_answer_as_the_routes_do(apps):
    quick, plain, services = apps
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    reader = {"Authorization": f"Bearer {services.tokens.create('r', ['read'])}"}
    submitter = {"Authorization": f"Bearer {services.tokens.create('s', ['submit'])}"}
    run_id = quick.post("/api/v1/runs", json={"steps": [["noop"]], "params": {"n": 1}}, headers=admin).json()["id"]
    seen = set()
    for url in (f"/api/v1/runs/{run_id}", f"/jobs/status/{run_id}", "/api/v1/runs/nope", "/jobs/status/nope",
                f"/api/v1/runs/{run_id}?wait_seconds=0", f"/api/v1/runs/{run_id}?wait_seconds=-1",
                f"/api/v1/runs/{run_id}?other=1", "/api/v1/runs/%20x"):
        for headers in (admin, reader, submitter, {}, {"Authorization": "Bearer stk_wrong"},
                        {"X-API-Key": ADMIN_TOKEN}):
            seen.add(_same(quick, plain, "GET", url, headers=headers))
    assert seen == {200, 401, 403, 404, 422}


def test_quick_submits_answer_as_the_routes_do(apps):
    quick, plain, services = apps
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    reader = {"Authorization": f"Bearer {services.tokens.create('r', ['read'])}"}
    quick.post("/api/v1/jobs", json={"name": "nop", "steps": [["noop"]], "max_concurrent_runs": 1000}, headers=admin)
    bodies = [b"{}", b'{"params": {"a": 1}, "priority": 5}', b'{"params": []}', b'{"unknown": 1}', b"[]", b"null",
              b"{not json", b"", b'{"params": {"big": 123456789012345678901234567890}}', b'{"params": {"x": NaN}}',
              b'{"steps": [["noop"]]}', b'{"steps": [["no_such_function"]]}', b'{"steps": "noop"}']
    content_types = ("application/json", "text/plain", None)
    seen = set()
    for url in ("/api/v1/jobs/nop/runs", "/api/v1/jobs/nope/runs", "/jobs/submit", "/api/v1/jobs/nop/runs?x=1"):
        for body in bodies:
            for content_type in content_types:
                for headers in (admin, reader, {}):
                    sent = {**headers, **({"Content-Type": content_type} if content_type else {})}
                    a = quick.post(url, content=body, headers=sent)
                    b = plain.post(url, content=body, headers=sent)
                    # A new run each: the same answer but for the run's id and times.
                    assert a.status_code == b.status_code, (url, body, sent, a.text, b.text)
                    if a.status_code in (200, 201):
                        ra, rb = a.json(), b.json()
                        assert set(ra) == set(rb)
                        if "state" in ra:
                            assert ra["state"] == rb["state"] == "QUEUED" and ra["params"] == rb["params"]
                            assert a.headers["location"] == f"/api/v1/runs/{ra['id']}"
                    else:
                        assert a.content == b.content, (url, body, sent)
                    seen.add(a.status_code)
    assert seen == {200, 201, 401, 403, 404, 422}  # 200: Speedy answers a submit so


def test_an_idempotent_replay_answers_as_the_route_does(apps):
    quick, plain, _services = apps
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Idempotency-Key": "once"}
    quick.post("/api/v1/jobs", json={"name": "nop", "steps": [["noop"]]}, headers=admin)
    first = quick.post("/api/v1/jobs/nop/runs", json={}, headers=admin)
    assert first.status_code == 201
    assert _same(quick, plain, "POST", "/api/v1/jobs/nop/runs", json={}, headers=admin) == 200
    assert quick.post("/api/v1/jobs/nop/runs", json={}, headers=admin).json()["id"] == first.json()["id"]


def test_a_quick_route_may_not_shadow_another(services):
    app = create_app(services)

    async def declines(_request):
        return None

    with pytest.raises(ValueError, match="would answer requests meant for GET /ui/jobs/new"):
        install_quick_routes(app, {("GET", "/ui/jobs/{name}"): declines})
    with pytest.raises(ValueError, match="no API route"):
        install_quick_routes(app, {("GET", "/api/v1/nowhere"): declines})


def test_quick_reads_read_what_the_store_reads(database):
    """A read plan gives the same answer, to the type, through SQLAlchemy and quick: sqlite3 on
    SQLite, the loop's psycopg pool (one pipelined round trip) on PostgreSQL."""
    import asyncio

    from stoker.core.errors import NotFound
    from stoker.core.states import Outcome
    from stoker.store.queue import Ending, Queue
    from stoker.store.quick import ReadPlan
    from stoker.store.runs import NewRun, RunStore

    store = RunStore(database)
    store.jobs.create("j", "pipeline", {"steps": [["noop"]]}, max_concurrent_runs=5)
    (done, cancelled) = store.submit("j", [NewRun(steps=[["noop"]], params={"a": [1, {"b": None}], "big": 2**62}),
                                           NewRun(steps=[["noop"]])])
    queue = Queue(database)
    claimed = {c.run_id: c for c in queue.claim("w", limit=2)}
    queue.finish(Ending(claimed[done.run_id].attempt_id, Outcome.SUCCEEDED, result={"rows": [[1, "x"]], "n": 2.5}))
    store.cancel(cancelled.run_id)
    plans = [store.read_run(done.run_id), store.read_run(cancelled.run_id), store.read_run(done.run_id,
             with_attempts=False), store.read_state(done.run_id), store.read_state("nope")]
    # Two statements: on PostgreSQL one pipeline of BEGIN, both, COMMIT.
    plans.append(ReadPlan([*store.read_state(done.run_id).statements, *store.read_run(done.run_id).statements],
                          lambda results: [[tuple(row) for row in rows] for rows in results]))

    async def quick_answers() -> list[object]:
        async with database.loop_reads():
            pool = database.loop_pool()
            assert (pool is None) == database.is_sqlite
            answers = [await pool.read(plan) if pool else database.read_plan(plan, quick=True) for plan in plans]
            with pytest.raises(NotFound):
                await pool.read(store.read_run("nope")) if pool else database.read_plan(store.read_run("nope"),
                                                                                        quick=True)
            return answers

    quick = asyncio.run(quick_answers())
    plain = [database.read_plan(plan) for plan in plans]
    assert quick == plain
    for q, p in zip(quick[:3], plain[:3], strict=True):
        for q_record, p_record in [(q, p), *zip(q.attempts or (), p.attempts or (), strict=True)]:
            assert ([type(v) for v in msgspec.structs.astuple(q_record)]
                    == [type(v) for v in msgspec.structs.astuple(p_record)])
    assert quick[1].cancel_requested is True and quick[0].attempts[0].outcome == "succeeded"
    assert quick[0].result == {"rows": [[1, "x"]], "n": 2.5} and quick[0].params["big"] == 2**62
    assert quick[2].attempts is None
    assert quick[3:5] == ["SUCCEEDED", None]
    assert quick[5][0] == [("SUCCEEDED",)] and len(quick[5][1]) == 1
    assert database.loop_pool() is None  # closed with its loop
