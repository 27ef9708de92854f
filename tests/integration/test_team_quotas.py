"""Teams in the queue (docs/teams.md, store/team_share.py): a team's quota of RUNNING runs holds
under claims, its work over quota waits (QUEUED, with the reason shown) and starts when room frees;
container runs count against the quotas of cores and memory; two teams with work queued share the
workers about half and half, whoever submitted first. On SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from stoker.core.attempts import Claimed
from stoker.core.errors import NotFound
from stoker.core.states import Outcome
from stoker.store.queue import Ending, Queue
from stoker.store.runs import NewRun, RunStore
from stoker.store.teams import TeamStore

INSTANT = ("instant", "spark", "container")


def queue_of(database):
    teams = TeamStore(database)
    teams.ensure_default("admin")
    runs = RunStore(database)
    return teams, runs, Queue(database)


def submit(runs: RunStore, team: str, n: int) -> list[str]:
    """n no-op runs of the team's job `work` (made on first use; its runs may all run at once)."""
    try:
        job = runs.jobs.get("work", team)
    except NotFound:
        job = runs.jobs.create("work", "pipeline", {"steps": [["noop"]]}, team=team, max_concurrent_runs=1000)
    return [s.run_id for s in runs.submit(job.id, [NewRun(steps=[["noop"]], lane="instant", team=team)
                                                   for _ in range(n)])]


def teams_of(claimed: list[Claimed]) -> list[str]:
    return [c.team for c in claimed]


def test_a_teams_quota_of_running_runs_holds_and_its_work_waits_until_room_frees(database):
    teams, runs, queue = queue_of(database)
    teams.create("red")
    teams.create("blue")
    teams.set_quotas("red", max_running_runs=2, max_cores=None, max_memory_mb=None)
    red = submit(runs, "red", 5)
    submit(runs, "blue", 3)
    claimed = queue.claim("w1", limit=10, lanes=INSTANT)
    assert sorted(teams_of(claimed)) == ["blue", "blue", "blue", "red", "red"]
    assert queue.claim("w2", limit=10, lanes=INSTANT) == []  # red is at its quota; blue has nothing
    # The waiting runs are QUEUED, not refused; one ends, one more of red's starts.
    assert [runs.get(r).state for r in red].count("QUEUED") == 3
    first_red = next(c for c in claimed if c.team == "red")
    queue.finish(Ending(first_red.attempt_id, Outcome.SUCCEEDED, result={"type": "noop"}))
    assert teams_of(queue.claim("w2", limit=10, lanes=INSTANT)) == ["red"]
    assert queue.claim("w3", limit=10, lanes=INSTANT) == []


def test_two_teams_submitting_at_once_each_get_about_half_of_the_workers(database):
    teams, runs, queue = queue_of(database)
    teams.create("red")
    teams.create("blue")
    submit(runs, "red", 40)  # red first: FIFO alone would give red the first 40 claims
    submit(runs, "blue", 40)
    taken: list[str] = []
    for _ in range(10):  # a worker claiming 4 at a time, finishing them before the next claim
        claimed = queue.claim("w", limit=4, lanes=INSTANT)
        taken += teams_of(claimed)
        for c in claimed:
            queue.finish(Ending(c.attempt_id, Outcome.SUCCEEDED, result={"type": "noop"}))
    assert len(taken) == 40
    assert 18 <= taken.count("blue") <= 22, taken


def test_container_runs_count_against_a_teams_cores_and_memory(database):
    teams, runs, queue = queue_of(database)
    teams.create("red")
    teams.set_quotas("red", max_running_runs=None, max_cores=3, max_memory_mb=None)
    job = runs.jobs.create("box", "container", {"image": "busybox", "cpus": 2, "memory_mb": 64}, team="red",
                           max_concurrent_runs=10)
    new = NewRun(options={"container": {"image": "busybox", "cpus": 2}}, lane="container", team="red")
    runs.submit(job.id, [new, new, new])
    assert teams_of(queue.claim("w", limit=10, lanes=INSTANT)) == ["red"]  # 2 cores of 3: one fits
    assert queue.claim("w", limit=10, lanes=INSTANT) == []


def test_a_queued_run_says_why_it_waits_for_its_teams_quota(services):
    from stoker.app import create_app

    services.teams.create("red")
    services.teams.set_quotas("red", max_running_runs=1, max_cores=None, max_memory_mb=None)
    token = services.tokens.create("alice", ["read", "submit"], user="alice", team="red", role="editor")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(services)) as client:  # no worker: the claims are this test's
        first = client.post("/api/v1/runs", json={"steps": [["noop"]]}, headers=headers).json()
        second = client.post("/api/v1/runs", json={"steps": [["noop"]]}, headers=headers).json()
        assert client.get(f"/api/v1/runs/{second['id']}", headers=headers).json()["waiting_for"] is None
        [claimed] = services.queue.claim("w", limit=5, lanes=INSTANT)
        assert claimed.run_id == first["id"]
        waiting = client.get(f"/api/v1/runs/{second['id']}", headers=headers).json()
        assert waiting["state"] == "QUEUED"
        assert "team red's quota" in waiting["waiting_for"] and "1 of its 1" in waiting["waiting_for"]


def test_without_teams_the_claim_is_as_before(database):
    _teams, runs, queue = queue_of(database)
    ids = submit(runs, "default", 3)
    assert [c.run_id for c in queue.claim("w", limit=3, lanes=INSTANT)] == ids  # FIFO
