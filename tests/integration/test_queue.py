"""The store and queue, run against SQLite and PostgreSQL alike (the `database` fixture)."""

from __future__ import annotations

import threading

import pytest

from stoker.core.errors import Conflict, Fenced
from stoker.core.states import Outcome
from stoker.store.queue import Ending, Queue
from stoker.store.runs import NewRun, RunStore


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stores(database):
    return RunStore(database), Queue(database)


def make_job(runs: RunStore, name: str = "j", **policy):
    return runs.jobs.create(name, "pipeline", {"steps": [["noop"]]}, **policy)


def test_submit_claim_finish_succeeds(stores):
    runs, queue = stores
    make_job(runs)
    [sub] = runs.submit("j", [NewRun(steps=[["noop"]])])
    assert runs.get(sub.run_id).state == "QUEUED"
    [claimed] = queue.claim("w1")
    assert claimed.run_id == sub.run_id and claimed.number == 1
    assert runs.get(sub.run_id).state == "RUNNING"
    assert queue.finish(Ending(claimed.attempt_id, Outcome.SUCCEEDED, result={"type": "noop"})) == "SUCCEEDED"
    run = runs.get(sub.run_id)
    assert run.state == "SUCCEEDED" and run.result == {"type": "noop"}
    assert [a.outcome for a in run.attempts or ()] == ["succeeded"]
    assert runs.jobs.get("j").running_count == 0
    # succeed once: nothing left to claim, and a second finish is fenced
    assert queue.claim("w2") == []
    with pytest.raises(Fenced):
        queue.finish(Ending(claimed.attempt_id, Outcome.FAILED, error="late"))
    assert runs.get(sub.run_id).state == "SUCCEEDED"


def test_fifo_order(stores):
    runs, queue = stores
    make_job(runs, max_concurrent_runs=10)
    ids = [s.run_id for s in runs.submit("j", [NewRun(steps=[["noop"]]) for _ in range(5)])]
    claimed = queue.claim("w", limit=5)
    assert [c.run_id for c in claimed] == ids


def test_idempotency_key_returns_same_run(stores):
    runs, _ = stores
    make_job(runs)
    first = runs.submit("j", [NewRun(idempotency_key="k1")])[0]
    again = runs.submit("j", [NewRun(idempotency_key="k1")])[0]
    assert first.created and not again.created and again.run_id == first.run_id
    assert len(runs.list(job="j")[0]) == 1


def test_max_concurrent_runs_limits_claims(stores):
    runs, queue = stores
    make_job(runs, max_concurrent_runs=2)
    runs.submit("j", [NewRun() for _ in range(5)])
    assert len(queue.claim("w", limit=5)) == 2
    assert queue.claim("w", limit=5) == []
    assert runs.jobs.get("j").running_count == 2


def test_failure_retries_with_backoff_then_dead_letter(database):
    clock = Clock()
    runs, queue = RunStore(database, clock=clock), Queue(database, clock=clock)
    make_job(runs, max_attempts=2, backoff="constant", backoff_seconds=10)
    [sub] = runs.submit("j", [NewRun()])
    [a1] = queue.claim("w")
    assert queue.finish(Ending(a1.attempt_id, Outcome.FAILED, error="boom")) == "QUEUED"
    assert queue.claim("w") == []  # backing off
    clock.now += 10
    [a2] = queue.claim("w")
    assert a2.number == 2
    assert queue.finish(Ending(a2.attempt_id, Outcome.FAILED, error="boom again")) == "FAILED"
    run = runs.get(sub.run_id)
    assert run.state == "FAILED" and run.error == "boom again"
    assert [a.outcome for a in run.attempts or ()] == ["failed", "failed"]
    clock.now += 100
    assert queue.claim("w") == []


def test_a_permanent_failure_fails_at_once_and_keeps_its_attempts_for_a_manual_retry(stores):
    runs, queue = stores
    make_job(runs, max_attempts=3)
    [sub] = runs.submit("j", [NewRun()])
    [a1] = queue.claim("w")
    ending = Ending(a1.attempt_id, Outcome.FAILED, error="UNRESOLVED_COLUMN: nope", permanent=True)
    assert queue.finish(ending) == "FAILED"
    run = runs.get(sub.run_id)
    assert run.state == "FAILED" and len(run.attempts or ()) == 1
    assert queue.claim("w") == []  # not re-queued
    assert runs.dead_letters(run_id=sub.run_id)[0] == []  # attempts are left: not a dead letter
    runs.retry(sub.run_id)  # the cause fixed, the caller runs it again
    [a2] = queue.claim("w")
    assert a2.number == 2
    # A timeout is never permanent, whatever the worker says: the next run may be faster.
    assert queue.finish(Ending(a2.attempt_id, Outcome.TIMED_OUT, permanent=True)) == "QUEUED"


def test_reaper_marks_lost_and_fences_stale_worker(database):
    clock = Clock()
    runs, queue = RunStore(database, clock=clock), Queue(database, clock=clock)
    make_job(runs, max_attempts=3, backoff_seconds=0)
    [sub] = runs.submit("j", [NewRun()])
    [stale] = queue.claim("w-old", lease_seconds=5)
    clock.now += 6
    assert queue.reap() == 1
    [fresh] = queue.claim("w-new", lease_seconds=5)
    assert fresh.number == 2
    with pytest.raises(Fenced):
        queue.finish(Ending(stale.attempt_id, Outcome.SUCCEEDED, result={"stale": True}))
    with pytest.raises(Fenced):
        queue.heartbeat_one(stale.attempt_id)
    queue.finish(Ending(fresh.attempt_id, Outcome.SUCCEEDED, result={"fresh": True}))
    run = runs.get(sub.run_id)
    assert run.result == {"fresh": True}
    assert [a.outcome for a in run.attempts or ()] == ["lost", "succeeded"]


def test_heartbeat_keeps_lease_alive(database):
    clock = Clock()
    runs, queue = RunStore(database, clock=clock), Queue(database, clock=clock)
    make_job(runs)
    runs.submit("j", [NewRun()])
    [a] = queue.claim("w", lease_seconds=5)
    for _ in range(3):
        clock.now += 4
        assert queue.heartbeat_one(a.attempt_id, lease_seconds=5).lease_expires_at == clock.now + 5
        assert queue.reap() == 0


def test_cancel_queued_and_running(stores):
    runs, queue = stores
    make_job(runs, max_concurrent_runs=5)
    queued, running = runs.submit("j", [NewRun(), NewRun()])
    [a] = queue.claim("w")  # takes the first
    assert a.run_id == queued.run_id
    assert runs.cancel(running.run_id) == "CANCELLED"
    assert runs.cancel(queued.run_id) == "RUNNING"  # requested; the worker stops it
    assert queue.heartbeat_one(a.attempt_id).cancel_requested
    assert queue.finish(Ending(a.attempt_id, Outcome.CANCELLED)) == "CANCELLED"
    with pytest.raises(Conflict):
        runs.cancel(queued.run_id)


def test_a_cancel_requested_run_whose_attempt_times_out_ends_cancelled(stores):
    # Issue 8: the timeout used to win over the cancel, and the run was re-queued for another attempt.
    runs, queue = stores
    make_job(runs, max_attempts=3)
    [run] = runs.submit("j", [NewRun()])
    [a] = queue.claim("w")
    assert runs.cancel(run.run_id) == "RUNNING"
    assert queue.finish(Ending(a.attempt_id, Outcome.TIMED_OUT, error="timed out")) == "CANCELLED"
    assert queue.claim("w") == []


def test_concurrent_claimers_never_exceed_limit(stores):
    runs, queue = stores
    make_job(runs, max_concurrent_runs=1)
    runs.submit("j", [NewRun() for _ in range(10)])
    got: list = []
    barrier = threading.Barrier(4)

    def claimer(i: int) -> None:
        barrier.wait()
        got.extend(queue.claim(f"w{i}", limit=3))

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 1


def test_every_run_event_names_its_job_state_and_attempt(stores, database):
    """The cases that once lacked `job` (or said the wrong state): a cancel from QUEUED, a cancel
    request, a retry's `queued`, a refused retry's `dead_letter` of a CANCELLED run."""
    import sqlalchemy as sa

    from stoker.store.tables import outbox

    runs, queue = stores
    make_job(runs, max_attempts=1)
    [early] = runs.submit("j", [NewRun(steps=[["noop"]])])
    assert runs.cancel(early.run_id) == "CANCELLED"
    [sub] = runs.submit("j", [NewRun(steps=[["noop"]])])
    [claimed] = queue.claim("w")
    assert runs.cancel(sub.run_id) == "RUNNING"
    assert queue.finish(Ending(claimed.attempt_id, Outcome.CANCELLED, error="stopped")) == "CANCELLED"
    with pytest.raises(Conflict):
        runs.retry(sub.run_id)  # its one attempt is used: refused, dead-lettered
    with database.read() as conn:
        rows = conn.execute(sa.select(outbox.c.run_id, outbox.c.event, outbox.c.payload)
                            .order_by(outbox.c.seq)).all()
    seen = [(r.run_id, r.event, r.payload["state"], r.payload.get("attempt")) for r in rows]
    assert seen == [
        (early.run_id, "queued", "QUEUED", None),
        (early.run_id, "cancelled", "CANCELLED", None),
        (sub.run_id, "queued", "QUEUED", None),
        (sub.run_id, "running", "RUNNING", 1),
        (sub.run_id, "cancel_requested", "RUNNING", 1),
        (sub.run_id, "cancelled", "CANCELLED", 1),
        (sub.run_id, "dead_letter", "CANCELLED", 1),
    ]
    assert {r.payload["job"] for r in rows} == {"j"}
    assert rows[-1].payload["kind"] == "retry_refused"


def test_a_retrys_queued_event_names_the_attempt_that_will_run(stores, database):
    import sqlalchemy as sa

    from stoker.store.tables import outbox

    runs, queue = stores
    make_job(runs, max_attempts=3, auto_retry=False)
    [sub] = runs.submit("j", [NewRun(steps=[["noop"]])])
    [claimed] = queue.claim("w")
    assert queue.finish(Ending(claimed.attempt_id, Outcome.FAILED, error="x")) == "FAILED"
    runs.retry(sub.run_id)
    with database.read() as conn:
        last = conn.execute(sa.select(outbox.c.payload).order_by(outbox.c.seq.desc()).limit(1)).scalar_one()
    assert (last["event"], last["job"], last["state"], last["attempt"], last["retry"]) == \
        ("queued", "j", "QUEUED", 2, True)


def test_finishing_a_batch_that_ended_alike_costs_the_same_statements_as_one_run(stores, database):
    """A batch of instant runs ends in a handful of statements, not in statements per run (each
    run's own unchanged available_at had made the runs' UPDATE one statement per run)."""
    import sqlalchemy as sa

    runs, queue = stores
    make_job(runs, max_concurrent_runs=100)

    def statements_to_finish(n: int) -> list[str]:
        runs.submit("j", [NewRun(steps=[["noop"]]) for _ in range(n)])
        claimed = queue.claim("w", limit=n)
        assert len(claimed) == n
        seen: list[str] = []

        def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
            seen.append(" ".join(statement.split()[:3]))

        sa.event.listen(database.writer, "before_cursor_execute", count)
        try:
            states = queue.finish_many([Ending(c.attempt_id, Outcome.SUCCEEDED, result={"type": "noop"})
                                        for c in claimed])
        finally:
            sa.event.remove(database.writer, "before_cursor_execute", count)
        assert set(states.values()) == {"SUCCEEDED"}
        return seen

    one, many = statements_to_finish(1), statements_to_finish(20)
    assert len(many) == len(one), (one, many)
    assert sum(s.startswith("UPDATE attempts") for s in many) == 1
    assert runs.jobs.get("j").running_count == 0


def _insert_while(database, hook_statement: str, act):  # type: ignore[no-untyped-def]
    """Run `act` (a claim or a finish of job j) and, while its transaction is at `hook_statement`,
    submit a run of job j from another thread; return whether that submit committed within 3 s, with
    the first transaction still open."""
    import sqlalchemy as sa

    other = RunStore(database)
    outcome: dict[str, bool] = {}

    def hook(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.lstrip().startswith(hook_statement) and "done" not in outcome:
            outcome["done"] = False
            thread = threading.Thread(target=lambda: other.submit("j", [NewRun(steps=[["noop"]])]))
            thread.start()
            thread.join(3)
            outcome["done"] = not thread.is_alive()

    sa.event.listen(database.writer, "after_cursor_execute", hook)
    try:
        act()
    finally:
        sa.event.remove(database.writer, "after_cursor_execute", hook)
    return outcome["done"]


def test_run_inserts_do_not_wait_for_a_claim_or_a_finish_of_their_job(stores, database):
    """Claims and finishes lock the job's row FOR NO KEY UPDATE (a finish only at its end), which a
    run insert's foreign-key check (FOR KEY SHARE) does not wait for: a submit commits while a claim
    or a finish of its job is still open. (SQLite serialises all writers: PostgreSQL only.)"""
    if database.is_sqlite:
        pytest.skip("SQLite has one writer at a time")
    runs, queue = stores
    make_job(runs, max_concurrent_runs=10)
    runs.submit("j", [NewRun(steps=[["noop"]]) for _ in range(2)])
    claimed: list = []
    # The claim: once it holds the job's row (its UPDATE of jobs.running_count).
    assert _insert_while(database, "UPDATE jobs", lambda: claimed.extend(queue.claim("w", limit=2)))
    assert len(claimed) == 2
    # The finish: once it holds the job's row (its last statement gives the slots back).
    assert _insert_while(database, "UPDATE jobs", lambda: queue.finish_many(
        [Ending(c.attempt_id, Outcome.SUCCEEDED) for c in claimed]))
    assert runs.jobs.get("j").running_count == 0
    assert len(runs.list(job="j")[0]) == 4
