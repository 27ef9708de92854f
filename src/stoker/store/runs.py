"""Runs: submit (idempotent), read, list, cancel. Each operation is one transaction."""

from __future__ import annotations

import builtins
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from stoker.core.errors import Conflict, NotFound
from stoker.core.states import RunState, attempt_id_for
from stoker.core.teams import DEFAULT_TEAM
from stoker.store.clusters import PARKED_AT
from stoker.store.db import Database
from stoker.store.jobs import ADHOC_JOB, JobStore
from stoker.store.notify import Wakeup
from stoker.store.outbox import notify_work_arrived, record_events, run_event
from stoker.store.quick import ReadPlan
from stoker.store.records.runs import Attempt, AttemptDetail, DeadLetter, PendingAttempt, Run
from stoker.store.tables import attempts, dead_letters, jobs, runs


@dataclass
class NewRun:
    steps: list[Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    secrets: str | None = None  # already encrypted
    idempotency_key: str | None = None
    lane: str = "spark"
    priority: int = 0
    waiting_for: str | None = None  # why it cannot start yet (its cluster is not ready): parked until then
    trigger: str = "api"  # api | schedule | backfill | manual (a person, from the UI or the CLI)
    scheduled_for: float | None = None  # a tick's run: the tick, and its data interval
    interval_start: float | None = None
    interval_end: float | None = None
    # Its Spark settings (docs/spark-conf.md), checked: {"job": {...}, "run": {...}}; None: none.
    conf: dict[str, dict[str, str]] | None = None
    # Whose run it is: the team its job is looked up in (an ad-hoc run's: that team's `adhoc` job).
    team: str = DEFAULT_TEAM


@dataclass
class Submitted:
    run_id: str
    created: bool  # False: an earlier submission with the same idempotency key
    # The new run as `get` would read it back (no attempts yet): an answer needs no second read.
    record: Run | None = None


ATTEMPT_FIELDS = ("id", "number", "worker_id", "executor", "outcome", "started_at", "heartbeat_at",
                  "lease_expires_at", "finished_at", "error", "spark_app_id", "spark_job_group", "host_name")


def attempt_record(row: Any, prefix: str = "") -> Attempt:
    """An attempt, from a row of attempts or one whose attempt columns carry `prefix`."""
    return Attempt(**{name: getattr(row, prefix + name) for name in ATTEMPT_FIELDS})


class RunStore:
    def __init__(self, db: Database, wakeup: Wakeup | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self.jobs = JobStore(db)
        self.wakeup = wakeup

    # -- submit ---------------------------------------------------------------------------
    def submit(self, job: str | None, new_runs: list[NewRun], *, batch_id: str | None = None) -> list[Submitted]:
        """Queue runs of a job (by name or id, in the runs' team; None: the team's `adhoc` job) in
        one transaction. A run is its job's team's."""
        team = new_runs[0].team if new_runs else DEFAULT_TEAM
        with self.db.write() as conn:
            job_row = (self.jobs.ensure(conn, ADHOC_JOB, team=team) if job is None
                       else self.jobs.row(conn, job, team))
            out = self.submit_in(conn, job_row, new_runs, batch_id=batch_id)
        self.wake_local(any(s.created for s in out))
        return out

    def submit_each(self, items: builtins.list[tuple[str | None, NewRun]]) -> builtins.list[Submitted | Exception]:
        """Queue runs of several jobs in one transaction (group commit): each item's own answer,
        in order; an item whose job does not exist gets its NotFound and the others go on."""
        out: builtins.list[Submitted | Exception | None] = [None] * len(items)
        by_job: dict[tuple[str, str | None], builtins.list[int]] = {}
        for index, (job, new) in enumerate(items):
            by_job.setdefault((new.team, job), []).append(index)
        with self.db.write() as conn:
            for (team, job), indexes in by_job.items():
                try:
                    job_row = (self.jobs.ensure(conn, ADHOC_JOB, team=team) if job is None
                               else self.jobs.row(conn, job, team))
                except NotFound as exc:
                    for index in indexes:
                        out[index] = exc
                    continue
                for index, submitted in zip(indexes, self.submit_in(conn, job_row, [items[i][1] for i in indexes]),
                                            strict=True):
                    out[index] = submitted
        self.wake_local(any(isinstance(s, Submitted) and s.created for s in out))
        return [s if s is not None else RuntimeError("not submitted") for s in out]

    def submit_in(self, conn: Connection, job_row: Any, new_runs: list[NewRun], *,
                  batch_id: str | None = None) -> list[Submitted]:
        """Submit inside the caller's transaction (adapters compose it with their own writes)."""
        now = self.clock()
        out: list[Submitted] = []
        plain: list[dict[str, Any]] = []
        for new in new_runs:
            values = self._values(job_row, new, now, batch_id)
            if new.idempotency_key is None:
                plain.append(values)
                out.append(Submitted(values["id"], True, _new_record(values, job_row.name)))
                continue
            inserted = conn.execute(_keyed_insert(conn.dialect.name), values).first()
            if inserted is not None:
                out.append(Submitted(values["id"], True, _new_record(values, job_row.name)))
                record_events(conn, now, [_queued_event(values, job_row.name)])
            else:
                existing = conn.execute(
                    sa.select(runs.c.id).where(runs.c.job_id == job_row.id,
                                               runs.c.idempotency_key == new.idempotency_key)
                ).scalar_one()
                out.append(Submitted(existing, False))
        if plain:
            conn.execute(runs.insert(), plain)
            record_events(conn, now, [_queued_event(v, job_row.name) for v in plain])
        if any(s.created for s in out):
            notify_work_arrived(conn)
        return out

    def wake_local(self, changed: bool = True) -> None:
        """Wake this process's claimers and long-pollers after a commit that queued work."""
        if changed and self.wakeup is not None:
            self.wakeup.notify()

    @staticmethod
    def _values(job_row: Any, new: NewRun, now: float, batch_id: str | None) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()), "job_id": job_row.id, "batch_id": batch_id,
            "state": RunState.QUEUED.value, "lane": new.lane, "steps": new.steps,
            "params": new.params, "options": new.options, "secrets": new.secrets,
            "idempotency_key": new.idempotency_key, "priority": new.priority,
            "attempt_count": 0, "max_attempts": job_row.max_attempts,
            "available_at": PARKED_AT if new.waiting_for else now, "queued_at": now,
            "error": new.waiting_for, "trigger": new.trigger, "scheduled_for": new.scheduled_for,
            "interval_start": new.interval_start, "interval_end": new.interval_end,
            "conf": new.conf or None, "team_id": job_row.team_id,
        }

    # -- read -----------------------------------------------------------------------------
    # Reads and changes of one run take `team`: another team's run is not found (None: any team's,
    # for an admin and the server's own duties). The team is in each statement's WHERE.
    def get(self, run_id: str, *, with_attempts: bool = True, team: str | None = None) -> Run:
        return self.db.read_plan(self.read_run(run_id, with_attempts=with_attempts, team=team))

    def read_run(self, run_id: str, *, with_attempts: bool = True, team: str | None = None) -> ReadPlan[Run]:
        """A run and its attempts, as a plan the hot endpoints run quick (store/quick.py)."""
        params = {"run_id": run_id} if team is None else {"run_id": run_id, "team": team}

        def assemble(results: builtins.list[builtins.list[Any]]) -> Run:
            rows = results[0]
            if not rows:
                raise NotFound(f"no run with id {run_id!r}")
            # With attempts: a row per attempt (one with no attempt's columns when it has none).
            found = (tuple(attempt_record(row, ATTEMPT_PREFIX) for row in rows if row.attempt_id is not None)
                     if with_attempts else None)
            return run_record(rows[0], found)

        statement = (_GET_RUN_AND_ATTEMPTS if with_attempts else _GET_RUN)[team is not None]
        return ReadPlan([(statement, params)], assemble)

    def state_of(self, run_id: str, team: str | None = None) -> str | None:
        return self.db.read_plan(self.read_state(run_id, team))

    def read_state(self, run_id: str, team: str | None = None) -> ReadPlan[str | None]:
        def assemble(results: builtins.list[builtins.list[Any]]) -> str | None:
            return str(results[0][0][0]) if results[0] else None

        params = {"run_id": run_id} if team is None else {"run_id": run_id, "team": team}
        return ReadPlan([(_STATE_OF[team is not None], params)], assemble)

    def list(self, *, job: str | None = None, state: str | None = None, batch_id: str | None = None,
             limit: int = 50, before_seq: int | None = None,
             queued_after: float | None = None, team: str | None = None) -> tuple[list[Run], int | None]:
        """Newest first (of `team`'s runs; None: every team's). Returns (runs, cursor for the next
        page or None)."""
        query = _run_select()
        if team is not None:
            query = query.where(runs.c.team_id == team)
        if queued_after is not None:
            query = query.where(runs.c.queued_at >= queued_after)
        if job is not None:
            query = query.where(sa.or_(jobs.c.name == job, jobs.c.id == job))
        if state is not None:
            query = query.where(runs.c.state == state)
        if batch_id is not None:
            query = query.where(runs.c.batch_id == batch_id)
        if before_seq is not None:
            query = query.where(runs.c.seq < before_seq)
        query = query.order_by(runs.c.seq.desc()).limit(limit + 1)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        page = [run_record(r) for r in rows[:limit]]
        cursor = rows[limit - 1].seq if len(rows) > limit else None
        return page, cursor

    def count_by_state(self, *, batch_id: str, team: str | None = None) -> dict[str, int]:
        query = sa.select(runs.c.state, sa.func.count()).where(runs.c.batch_id == batch_id)
        if team is not None:
            query = query.where(runs.c.team_id == team)
        with self.db.read() as conn:
            rows = conn.execute(query.group_by(runs.c.state)).all()
        return dict(rows)

    def attempt_log(self, run_id: str, number: int | None = None, *, team: str | None = None) -> tuple[int, str]:
        with self.db.read() as conn:
            query = sa.select(attempts.c.number, attempts.c.log).where(attempts.c.run_id == run_id)
            the_run = sa.select(runs.c.id).where(runs.c.id == run_id)
            if team is not None:
                query = query.where(attempts.c.run_id.in_(the_run.where(runs.c.team_id == team)))
                the_run = the_run.where(runs.c.team_id == team)
            if number is not None:
                query = query.where(attempts.c.number == number)
            row = conn.execute(query.order_by(attempts.c.number.desc()).limit(1)).first()
            if row is None:
                if conn.execute(the_run).first() is None:
                    raise NotFound(f"no run with id {run_id!r}")
                raise NotFound(f"run {run_id} has no attempt"
                               + (f" number {number}" if number is not None else " yet"))
            return row.number, row.log or ""

    # -- cancel ---------------------------------------------------------------------------
    def cancel(self, run_id: str, *, team: str | None = None) -> str:
        """QUEUED: cancelled at once. RUNNING: marked; its worker stops it and reports `cancelled`."""
        with self.db.write() as conn:
            outcome = self.cancel_in(conn, run_id, self.clock(), team=team)
            found = sa.select(runs.c.state).where(runs.c.id == run_id)
            if team is not None:
                found = found.where(runs.c.team_id == team)
            state = None if outcome else conn.execute(found).scalar()
        if outcome == RunState.RUNNING.value:
            if self.wakeup is not None:
                self.wakeup.notify()  # the local worker's heartbeat loop checks for cancel requests
            return outcome
        if outcome is not None:
            return outcome
        if state is None:
            raise NotFound(f"no run with id {run_id!r}")
        raise Conflict(f"run {run_id} is already {state}; only QUEUED or RUNNING runs can be cancelled",
                       state=state)

    @staticmethod
    def cancel_in(conn: Connection, run_id: str, now: float, why: str = "cancelled before it started", *,
                  team: str | None = None) -> str | None:
        """Cancel inside the caller's transaction: CANCELLED (it was QUEUED), RUNNING (its worker is
        asked to stop it; the caller wakes the local worker after commit), None (it had finished, or
        is another team's)."""
        mine = runs.c.id == run_id if team is None else sa.and_(runs.c.id == run_id, runs.c.team_id == team)
        row = conn.execute(
            runs.update().where(mine, runs.c.state == RunState.QUEUED.value)
            .values(state=RunState.CANCELLED.value, finished_at=now, error=why)
            .returning(runs.c.id, runs.c.job_id)
        ).first()
        if row is not None:  # no attempt is concerned: none was running
            record_events(conn, now, [run_event("cancelled", run_id=run_id, job_id=row.job_id,
                                                job=_job_name(conn, row.job_id), state=RunState.CANCELLED)])
            return RunState.CANCELLED.value
        row = conn.execute(
            runs.update().where(mine, runs.c.state == RunState.RUNNING.value)
            .values(cancel_requested=True).returning(runs.c.id, runs.c.job_id, runs.c.attempt_count)
        ).first()
        if row is None:
            return None
        record_events(conn, now, [run_event("cancel_requested", run_id=run_id, job_id=row.job_id,
                                            job=_job_name(conn, row.job_id),
                                            state=RunState.RUNNING, attempt=row.attempt_count)])
        notify_work_arrived(conn)  # the worker holding it checks for cancel requests
        return RunState.RUNNING.value

    # -- retry --------------------------------------------------------------------------
    def retry(self, run_id: str, *, steps: builtins.list[Any] | None = None, lane: str | None = None,
              team: str | None = None) -> Run:
        """Queue a finished, unsuccessful run again. Of many concurrent retries exactly one wins."""
        with self.db.write() as conn:
            refusal = self.retry_in(conn, run_id, steps=steps, lane=lane, team=team)
        if refusal is not None:
            raise refusal  # after the commit: a refusal for used-up attempts is recorded
        self.wake_local()
        return self.get(run_id)

    def retry_in(self, conn: Connection, run_id: str, *, steps: builtins.list[Any] | None = None,
                 lane: str | None = None, dead_letter: Mapping[str, Any] | None = None,
                 team: str | None = None) -> Conflict | None:
        """One conditional UPDATE re-queues the run; otherwise return (not raise) the refusal, which
        says why and where to look. A refusal because the attempts are used up is written to the
        dead-letter list (and the outbox) in the caller's transaction, so the caller must commit;
        `dead_letter` adds a seed API's identifiers to it (`request_id`, `seed_message`)."""
        now = self.clock()
        values: dict[str, Any] = {"state": RunState.QUEUED.value, "available_at": now,
                                  "cancel_requested": False, "finished_at": None, "error": None}
        if steps is not None:
            values["steps"] = steps
        if lane is not None:
            values["lane"] = lane
        mine = runs.c.id == run_id if team is None else sa.and_(runs.c.id == run_id, runs.c.team_id == team)
        row = conn.execute(
            runs.update().where(mine, runs.c.state.in_([RunState.FAILED.value, RunState.CANCELLED.value]),
                                runs.c.attempt_count < runs.c.max_attempts)
            .values(**values).returning(runs.c.job_id, runs.c.attempt_count)
        ).first()
        if row is None:
            refusal = self.retry_refusal_in(conn, run_id, dead_letter=dead_letter, team=team)
            # None: the run became retryable after the UPDATE looked (read committed); say so.
            return refusal or Conflict(f"run {run_id} changed while it was being retried; try again")
        record_events(conn, now, [run_event("queued", run_id=run_id, job_id=row.job_id,
                                            job=_job_name(conn, row.job_id), state=RunState.QUEUED,
                                            attempt=row.attempt_count + 1, retry=True)])
        notify_work_arrived(conn)
        return None

    def retry_refusal_in(self, conn: Connection, run_id: str, *,
                         dead_letter: Mapping[str, Any] | None = None, team: str | None = None) -> Conflict | None:
        """Why a retry of the run would be refused now, or None when it would be accepted. A refusal
        because the attempts are used up is recorded (see retry_in)."""
        now = self.clock()
        found = sa.select(runs).where(runs.c.id == run_id)
        if team is not None:
            found = found.where(runs.c.team_id == team)
        run = conn.execute(found).first()
        if run is None:
            raise NotFound(f"no run with id {run_id!r}")
        if (run.state in (RunState.FAILED.value, RunState.CANCELLED.value)
                and run.attempt_count < run.max_attempts):
            return None
        base = f"/api/v1/runs/{run_id}"
        if run.state in (RunState.QUEUED.value, RunState.RUNNING.value):
            number = run.attempt_count if run.state == RunState.RUNNING.value else run.attempt_count + 1
            return Conflict(
                f"run {run_id} is {run.state}: attempt {number} is already "
                f"{'running' if run.state == 'RUNNING' else 'waiting to run'}; wait for it to finish "
                f"(or cancel it) before retrying", state=run.state, active_attempt=f"{base}/attempts/{number}")
        if run.state == RunState.SUCCEEDED.value:
            return Conflict(f"run {run_id} already succeeded and is never run again; read its result",
                            state=run.state, results=f"{base}/result")
        reason = (f"retry refused: run {run_id} has used all {run.max_attempts} attempts; submit a new "
                  f"run if it should be tried again")
        seed = {k: v for k, v in (dead_letter or {}).items() if k in ("request_id", "seed_message")}
        conn.execute(dead_letters.insert().values(run_id=run_id, job_id=run.job_id, kind="retry_refused",
                                                  reason=reason, created_at=now, **seed))
        record_events(conn, now, [run_event("dead_letter", run_id=run_id, job_id=run.job_id,
                                            job=_job_name(conn, run.job_id), state=RunState(run.state),
                                            attempt=run.attempt_count or None, kind="retry_refused",
                                            reason=reason, **seed)])
        return Conflict(reason, state=run.state, dead_letters=f"/api/v1/dead-letters?run={run_id}")

    def dead_letters(self, *, job: str | None = None, run_id: str | None = None,
                     request_id: str | None = None, limit: int = 50, before_id: int | None = None,
                     team: str | None = None) -> tuple[builtins.list[DeadLetter], int | None]:
        """The dead-letter list, newest first: of `team`'s jobs (None: every team's)."""
        query = (sa.select(dead_letters, jobs.c.name.label("job_name"))
                 .join(jobs, jobs.c.id == dead_letters.c.job_id))
        if team is not None:
            query = query.where(jobs.c.team_id == team)
        if job is not None:
            query = query.where(sa.or_(jobs.c.name == job, jobs.c.id == job))
        if run_id is not None:
            query = query.where(dead_letters.c.run_id == run_id)
        if request_id is not None:
            query = query.where(dead_letters.c.request_id == request_id)
        if before_id is not None:
            query = query.where(dead_letters.c.id < before_id)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(dead_letters.c.id.desc()).limit(limit + 1)).all()
        page = [DeadLetter(id=r.id, run_id=r.run_id, job=r.job_name, kind=r.kind, reason=r.reason,
                           request_id=r.request_id, seed_message=r.seed_message, created_at=r.created_at)
                for r in rows[:limit]]
        return page, (rows[limit - 1].id if len(rows) > limit else None)

    def attempt(self, run_id: str, number: int, *, team: str | None = None) -> AttemptDetail | PendingAttempt:
        with self.db.read() as conn:
            if team is not None and conn.execute(sa.select(runs.c.id).where(
                    runs.c.id == run_id, runs.c.team_id == team)).first() is None:
                raise NotFound(f"run {run_id!r} has no attempt number {number}")
            row = conn.execute(sa.select(attempts).where(attempts.c.run_id == run_id,
                                                         attempts.c.number == number)).first()
            if row is not None:
                return AttemptDetail(**{name: getattr(row, name) for name in ATTEMPT_FIELDS},
                                     run_id=run_id, result=row.result)
            run = conn.execute(sa.select(runs.c.state, runs.c.attempt_count)
                               .where(runs.c.id == run_id)).first()
        if run is not None and run.state == RunState.QUEUED.value and number == run.attempt_count + 1:
            return PendingAttempt(id=attempt_id_for(run_id, number), run_id=run_id, number=number)
        raise NotFound(f"run {run_id!r} has no attempt number {number}")

    def cancel_requested(self, run_ids: builtins.list[str]) -> set[str]:
        if not run_ids:
            return set()
        with self.db.read() as conn:
            return set(conn.execute(
                sa.select(runs.c.id).where(runs.c.id.in_(run_ids), runs.c.cancel_requested.is_(True))
            ).scalars())


_KEYED_INSERTS: dict[str, Any] = {}


def _keyed_insert(dialect: str) -> Any:
    """INSERT … ON CONFLICT (job, idempotency key) DO NOTHING RETURNING id, built once per dialect and
    run with each run's values as parameters: building it per run cost more than running it."""
    statement = _KEYED_INSERTS.get(dialect)
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = _KEYED_INSERTS[dialect] = (
            insert(runs).on_conflict_do_nothing(index_elements=["job_id", "idempotency_key"]).returning(runs.c.id))
    return statement


def _run_select() -> sa.Select:  # type: ignore[type-arg]
    return sa.select(runs, jobs.c.name.label("job_name")).join(jobs, jobs.c.id == runs.c.job_id)


# The hot reads' statements, built once: building a select and its cache key per call cost more
# than SQLite took to answer it (bench/bench_submit.py, profiled).
def _any_or_team(statement: Any) -> tuple[Any, Any]:
    """(the statement, the statement within the team named by the `team` parameter): indexed by
    whether a team is given."""
    return statement, statement.where(runs.c.team_id == sa.bindparam("team"))


_GET_RUN = _any_or_team(_run_select().where(runs.c.id == sa.bindparam("run_id")))
# A run and its attempts in one statement: one snapshot without a transaction, one round trip.
ATTEMPT_PREFIX = "attempt_"  # the attempt columns' labels there (runs has columns of the same names)
_GET_RUN_AND_ATTEMPTS = _any_or_team(
    _run_select().add_columns(*(attempts.c[name].label(ATTEMPT_PREFIX + name) for name in ATTEMPT_FIELDS))
    .outerjoin(attempts, attempts.c.run_id == runs.c.id)
    .where(runs.c.id == sa.bindparam("run_id")).order_by(attempts.c.number))
_STATE_OF = _any_or_team(sa.select(runs.c.state).where(runs.c.id == sa.bindparam("run_id")))


def run_record(row: Any, attempts_read: tuple[Attempt, ...] | None = None) -> Run:
    """A run from a row of `_run_select` (its job's name as `job_name`)."""
    return Run(
        id=row.id, seq=row.seq, job=row.job_name, job_id=row.job_id, batch_id=row.batch_id, state=row.state,
        lane=row.lane, steps=row.steps, params=row.params, options=row.options,
        has_secrets=row.secrets is not None, idempotency_key=row.idempotency_key, priority=row.priority,
        attempt_count=row.attempt_count, max_attempts=row.max_attempts, queued_at=row.queued_at,
        available_at=row.available_at, started_at=row.started_at, finished_at=row.finished_at,
        cancel_requested=row.cancel_requested, result=row.result, error=row.error, trigger=row.trigger,
        scheduled_for=row.scheduled_for, interval_start=row.interval_start, interval_end=row.interval_end,
        conf=row.conf or {}, effective_conf=row.effective_conf, attempts=attempts_read, team_id=row.team_id,
        waiting=row.waiting,
    )


def _new_record(values: dict[str, Any], job_name: str) -> Run:
    """What `get` returns for a run just inserted with `values`: built from what was written, not
    read back (its seq, assigned by the database, aside: the API never shows it)."""
    return Run(
        id=values["id"], seq=None, job=job_name, job_id=values["job_id"], batch_id=values["batch_id"],
        state=values["state"], lane=values["lane"], steps=values["steps"], params=values["params"],
        options=values["options"], has_secrets=values["secrets"] is not None,
        idempotency_key=values["idempotency_key"], priority=values["priority"],
        attempt_count=values["attempt_count"], max_attempts=values["max_attempts"],
        queued_at=values["queued_at"], available_at=values["available_at"], started_at=None, finished_at=None,
        cancel_requested=False, result=None, error=values["error"], trigger=values["trigger"],
        scheduled_for=values["scheduled_for"], interval_start=values["interval_start"],
        interval_end=values["interval_end"], conf=values["conf"] or {}, effective_conf=None, attempts=(),
        team_id=values["team_id"],
    )


def _queued_event(values: dict[str, Any], job_name: str) -> dict[str, Any]:
    return run_event("queued", run_id=values["id"], job_id=values["job_id"], job=job_name,
                     state=RunState.QUEUED)


def _job_name(conn: Connection, job_id: str) -> str:
    return str(conn.execute(sa.select(jobs.c.name).where(jobs.c.id == job_id)).scalar_one())
