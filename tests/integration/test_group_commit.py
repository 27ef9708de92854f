"""Group-committed submits keep every guarantee of a lone submit: one key, one run; an invalid or
unknown-job request in a group is refused alone; every acknowledged run survives a SIGKILL."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from test_sinks_support import LiveServer

from stoker.store.runs import NewRun


@pytest.fixture
def server(tmp_path):
    live = LiveServer(tmp_path / "data", embedded_worker=False)
    yield live
    live.close()


def _concurrently(server: LiveServer, requests: list[tuple[str, dict, dict]]) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=250)
        async with httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=60, limits=limits) as c:
            return await asyncio.gather(*[c.post(url, json=body, headers=headers) for url, body, headers in requests])
    return asyncio.run(go())


def test_two_hundred_concurrent_submits_with_one_key_make_one_run(server):
    with server.client() as client:
        client.post("/api/v1/jobs", json={"name": "once", "steps": [["noop"]], "max_concurrent_runs": 10})
    answers = _concurrently(server, [("/api/v1/jobs/once/runs", {}, {"Idempotency-Key": "k-1"})] * 200)
    assert sorted({r.status_code for r in answers}) in ([200, 201], [201])
    assert [r.status_code for r in answers].count(201) == 1
    assert len({r.json()["id"] for r in answers}) == 1
    with server.client() as client:
        assert len(client.get("/api/v1/jobs/once/runs").json()["runs"]) == 1


def test_a_bad_request_in_a_group_is_refused_alone(server):
    with server.client() as client:
        client.post("/api/v1/jobs", json={"name": "fine", "steps": [["noop"]], "max_concurrent_runs": 10})
    requests = [("/api/v1/jobs/fine/runs", {}, {})] * 60
    requests[10] = ("/api/v1/jobs/nope/runs", {}, {})  # unknown job: 404
    requests[20] = ("/api/v1/runs", {"steps": [["no_such_function"]]}, {})  # invalid pipeline: 422
    answers = _concurrently(server, requests)
    assert answers[10].status_code == 404 and answers[20].status_code == 422
    others = [r for i, r in enumerate(answers) if i not in (10, 20)]
    assert all(r.status_code == 201 for r in others)
    with server.client() as client:
        assert len(client.get("/api/v1/jobs/fine/runs", params={"limit": 500}).json()["runs"]) == 58


def test_a_group_that_fails_as_a_whole_is_retried_one_by_one(services, monkeypatch):
    """When the shared transaction fails, each submit is committed alone: one bad apple fails, the
    rest succeed."""
    runs = services.runs

    def failing_group(items):
        raise RuntimeError("the shared transaction failed")

    monkeypatch.setattr(runs, "submit_each", failing_group)
    original = runs.submit
    monkeypatch.setattr(runs, "submit", lambda job, new, **kw: (
        (_ for _ in ()).throw(ValueError("bad")) if new[0].params.get("bad") else original(job, new, **kw)))
    committer = services.group_commit
    futures = [committer.submit(None, NewRun(steps=[["noop"]], lane="instant"))]
    futures += [committer.submit(None, NewRun(steps=[["noop"]], lane="instant", params={"bad": i == 2}))
                for i in range(5)]
    outcomes = []
    for future in futures:
        try:
            outcomes.append(future.result(10).created)
        except ValueError:
            outcomes.append("refused")
    assert outcomes.count("refused") == 1 and outcomes.count(True) == 5


def test_other_write_work_runs_on_the_committer_thread_after_the_submits_before_it(tmp_path):
    """GroupCommitter.call (Sate's executions on SQLite): in turn with the submits, on the one thread,
    its answer or its exception handed back."""
    import threading

    from stoker.store.db import Database
    from stoker.store.group_commit import GroupCommitter
    from stoker.store.runs import RunStore

    db = Database(f"sqlite:///{tmp_path / 'stoker.db'}")
    db.upgrade()
    runs = RunStore(db)
    committer = GroupCommitter(runs)

    async def scenario() -> tuple[list[object], str, int, str]:
        submits = [asyncio.wrap_future(committer.submit(None, NewRun(steps=[["noop"]]))) for _ in range(20)]
        seen = committer.call(lambda: (threading.current_thread().name, len(runs.list(limit=100)[0])))

        def refuse() -> None:
            raise ValueError("refused")

        with pytest.raises(ValueError, match="refused"):
            await committer.call(refuse)
        done = await asyncio.gather(*submits)
        thread, counted = await seen
        return done, thread, counted, await committer.call(lambda: "after")

    done, thread, counted, after = asyncio.run(scenario())
    assert len(done) == 20 and thread == "stoker-group-commit"
    assert counted == 20  # every submit queued before the call had committed when it ran
    assert after == "after"
    committer.close()
    db.dispose()
