"""The queue: claim attempts under a lease, renew the lease, finish, and reap expired leases.

The runs table is the queue (a QUEUED row is a queue entry). Every function here is one
transaction, and every guarantee is held by the database:

* claim locks candidate runs (PostgreSQL: FOR UPDATE SKIP LOCKED, so claimers never wait on each
  other's rows) and then the rows of their jobs (FOR UPDATE, in id order so claimers cannot
  deadlock). With the job rows locked, `jobs.running_count` is exact, and at most
  `max_concurrent_runs - running_count` runs of a job start. On SQLite the transaction began with
  BEGIN IMMEDIATE, which serialises all writers; the same statements are then atomic as a whole.
* a partial unique index allows one active attempt (outcome IS NULL) per run.
* finish, heartbeat and reap change an attempt only `WHERE outcome IS NULL` (and, for reap, only
  while its lease is expired): whoever ends an attempt first wins; the other gets Fenced and
  changes nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stoker.core.errors import Fenced
from stoker.core.states import Outcome, RunState, attempt_id_for, backoff_delay, next_state_after
from stoker.store.db import Database
from stoker.store.outbox import record_events
from stoker.store.runs import _notify_claimers
from stoker.store.tables import attempts, dead_letters, jobs, runs


@dataclass(frozen=True)
class Claimed:
    """An attempt a worker now holds, with everything needed to execute it."""

    attempt_id: str
    run_id: str
    number: int
    job_id: str
    job_name: str
    job_kind: str
    job_spec: dict[str, Any]
    mode: str
    lane: str
    steps: list[Any] | None
    params: dict[str, Any]
    options: dict[str, Any]
    secrets: str | None
    timeout_seconds: float | None
    lease_expires_at: float


@dataclass(frozen=True)
class Ending:
    attempt_id: str
    outcome: Outcome
    result: Any = None
    error: str | None = None
    log: str | None = None


@dataclass(frozen=True)
class Lease:
    attempt_id: str
    lease_expires_at: float
    cancel_requested: bool


class Queue:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    # -- claim ----------------------------------------------------------------------------
    def claim(self, worker_id: str, *, limit: int = 1, lease_seconds: float = 30.0,
              lanes: Sequence[str] = ("spark", "instant", "container"),
              executor: str | None = None) -> list[Claimed]:
        if limit <= 0:
            return []
        now = self.clock()
        with self.db.write() as conn:
            candidates = conn.execute(
                sa.select(runs.c.id, runs.c.job_id, runs.c.attempt_count)
                .join(jobs, jobs.c.id == runs.c.job_id)
                .where(runs.c.state == RunState.QUEUED.value, runs.c.lane.in_(lanes),
                       runs.c.available_at <= now,
                       jobs.c.running_count < jobs.c.max_concurrent_runs)
                .order_by(runs.c.priority.desc(), runs.c.seq)
                .limit(limit * 2)
                .with_for_update(skip_locked=True, of=runs)
            ).all()
            if not candidates:
                return []
            job_rows = {
                j.id: j for j in conn.execute(
                    sa.select(jobs).where(jobs.c.id.in_({c.job_id for c in candidates}))
                    .order_by(jobs.c.id).with_for_update()
                )
            }
            # Read the clock again with the job rows locked: an attempt that ended and freed this
            # slot has committed by now, so a start time is never before the end it waited for.
            now = max(now, self.clock())
            free = {jid: j.max_concurrent_runs - j.running_count for jid, j in job_rows.items()}
            chosen = []
            for cand in candidates:
                if len(chosen) < limit and free[cand.job_id] > 0:
                    free[cand.job_id] -= 1
                    chosen.append(cand)
            if not chosen:
                return []
            for job_id, n in Counter(c.job_id for c in chosen).items():
                conn.execute(jobs.update().where(jobs.c.id == job_id)
                             .values(running_count=jobs.c.running_count + n))
            attempt_ids = {c.id: attempt_id_for(c.id, c.attempt_count + 1) for c in chosen}
            lease_until = now + lease_seconds
            conn.execute(
                runs.update().where(runs.c.id == sa.bindparam("b_run"))
                .values(state=RunState.RUNNING.value, attempt_count=runs.c.attempt_count + 1,
                        current_attempt_id=sa.bindparam("b_attempt"),
                        started_at=sa.func.coalesce(runs.c.started_at, now)),
                [{"b_run": rid, "b_attempt": aid} for rid, aid in attempt_ids.items()],
            )
            rows = conn.execute(
                sa.select(runs).where(runs.c.id.in_(list(attempt_ids)))
            ).all()
            conn.execute(attempts.insert(), [
                {"id": attempt_ids[r.id], "run_id": r.id, "number": r.attempt_count,
                 "worker_id": worker_id, "executor": executor, "started_at": now,
                 "heartbeat_at": now, "lease_expires_at": lease_until}
                for r in rows
            ])
            record_events(conn, now, [
                {"run_id": r.id, "job_id": r.job_id, "job": job_rows[r.job_id].name,
                 "event": "running", "state": "RUNNING", "attempt": r.attempt_count,
                 "attempt_id": attempt_ids[r.id], "worker_id": worker_id}
                for r in rows
            ])
        order = {c.id: i for i, c in enumerate(chosen)}
        return sorted(
            (Claimed(
                attempt_id=attempt_ids[r.id], run_id=r.id, number=r.attempt_count, job_id=r.job_id,
                job_name=job_rows[r.job_id].name, job_kind=job_rows[r.job_id].kind,
                job_spec=job_rows[r.job_id].spec, mode=job_rows[r.job_id].mode, lane=r.lane,
                steps=r.steps, params=r.params, options=r.options, secrets=r.secrets,
                timeout_seconds=job_rows[r.job_id].timeout_seconds, lease_expires_at=lease_until,
            ) for r in rows),
            key=lambda c: order[c.run_id],
        )

    # -- heartbeat ------------------------------------------------------------------------
    def heartbeat(self, attempt_ids: Sequence[str], *, lease_seconds: float = 30.0) -> dict[str, Lease]:
        """Renew the leases still held; attempts missing from the answer are fenced off."""
        if not attempt_ids:
            return {}
        now = self.clock()
        with self.db.write() as conn:
            renewed = conn.execute(
                attempts.update()
                .where(attempts.c.id.in_(list(attempt_ids)), attempts.c.outcome.is_(None))
                .values(heartbeat_at=now, lease_expires_at=now + lease_seconds)
                .returning(attempts.c.id, attempts.c.run_id)
            ).all()
            if not renewed:
                return {}
            cancel = dict(conn.execute(
                sa.select(runs.c.id, runs.c.cancel_requested)
                .where(runs.c.id.in_([r.run_id for r in renewed]))
            ).all())
        return {r.id: Lease(r.id, now + lease_seconds, bool(cancel.get(r.run_id))) for r in renewed}

    def heartbeat_one(self, attempt_id: str, *, lease_seconds: float = 30.0) -> Lease:
        lease = self.heartbeat([attempt_id], lease_seconds=lease_seconds).get(attempt_id)
        if lease is None:
            raise self._fenced(attempt_id)
        return lease

    # -- finish ---------------------------------------------------------------------------
    def finish(self, ending: Ending) -> str:
        """End an attempt; returns the run's new state. Raises Fenced if the lease is gone."""
        states = self.finish_many([ending])
        if ending.attempt_id not in states:
            raise self._fenced(ending.attempt_id)
        return states[ending.attempt_id]

    def finish_many(self, endings: Sequence[Ending]) -> dict[str, str]:
        """End several attempts in one transaction; fenced ones are left out of the answer."""
        if not endings:
            return {}
        now = self.clock()
        with self.db.write() as conn:
            return _end_attempts(conn, now, endings, only_expired=False)

    # -- reap -----------------------------------------------------------------------------
    def reap(self, *, limit: int = 200) -> int:
        """Turn expired leases into `lost` attempts; re-queue or fail their runs by policy."""
        now = self.clock()
        with self.db.write() as conn:
            expired = conn.execute(
                sa.select(attempts.c.id, attempts.c.worker_id)
                .where(attempts.c.outcome.is_(None), attempts.c.lease_expires_at < now)
                .limit(limit).with_for_update(skip_locked=True)
            ).all()
            if not expired:
                return 0
            endings = [Ending(a.id, Outcome.LOST,
                              error=f"lease expired: worker {a.worker_id} stopped heartbeating")
                       for a in expired]
            return len(_end_attempts(conn, now, endings, only_expired=True))

    def next_available_at(self) -> float | None:
        """When the earliest delayed (backing-off) QUEUED run becomes claimable."""
        with self.db.read() as conn:
            return conn.execute(
                sa.select(sa.func.min(runs.c.available_at))
                .where(runs.c.state == RunState.QUEUED.value)
            ).scalar()

    def _fenced(self, attempt_id: str) -> Fenced:
        with self.db.read() as conn:
            row = conn.execute(sa.select(attempts.c.outcome, attempts.c.run_id)
                               .where(attempts.c.id == attempt_id)).first()
        if row is None:
            return Fenced(f"no attempt with id {attempt_id!r}", attempt_id=attempt_id)
        return Fenced(
            f"attempt {attempt_id} no longer holds the lease of run {row.run_id}: it already ended "
            f"as {row.outcome!r}; its report was refused and nothing changed",
            attempt_id=attempt_id, outcome=row.outcome, run_id=row.run_id,
        )


def _end_attempts(conn: Connection, now: float, endings: Sequence[Ending], *,
                  only_expired: bool) -> dict[str, str]:
    """The one place where attempts end: attempt outcome, run state, job semaphore, dead letter, events."""
    new_states: dict[str, str] = {}
    events: list[dict[str, Any]] = []
    notify = False
    for ending in endings:
        condition = [attempts.c.id == ending.attempt_id, attempts.c.outcome.is_(None)]
        if only_expired:
            condition.append(attempts.c.lease_expires_at < now)
        ended = conn.execute(
            attempts.update().where(*condition)
            .values(outcome=ending.outcome.value, finished_at=now, error=ending.error,
                    result=ending.result, log=ending.log)
            .returning(attempts.c.run_id, attempts.c.number)
        ).first()
        if ended is None:
            continue  # fenced: someone else ended this attempt first
        run = conn.execute(
            sa.select(runs).where(runs.c.id == ended.run_id).with_for_update()
        ).one()
        job = conn.execute(
            sa.select(jobs).where(jobs.c.id == run.job_id).with_for_update()
        ).one()
        outcome = ending.outcome
        if run.cancel_requested and outcome in (Outcome.FAILED, Outcome.LOST):
            outcome = Outcome.CANCELLED  # it was asked to stop; the stop is why it ended
        state = next_state_after(outcome, run.attempt_count, run.max_attempts, job.auto_retry)
        values: dict[str, Any] = {"state": state.value, "current_attempt_id": None}
        if state is RunState.QUEUED:
            values["available_at"] = now + backoff_delay(job.backoff, job.backoff_seconds,
                                                         run.attempt_count)
            values["error"] = ending.error
            notify = True
        else:
            values["finished_at"] = now
            values["error"] = ending.error if state is not RunState.SUCCEEDED else None
            if state is RunState.SUCCEEDED:
                values["result"] = ending.result
        conn.execute(runs.update().where(runs.c.id == run.id).values(**values))
        conn.execute(jobs.update().where(jobs.c.id == job.id)
                     .values(running_count=jobs.c.running_count - 1))
        event = {"run_id": run.id, "job_id": job.id, "job": job.name, "event": state.value.lower(),
                 "state": state.value, "attempt": ended.number, "attempt_id": ending.attempt_id,
                 "outcome": outcome.value, "error": values.get("error")}
        if state is RunState.QUEUED:
            event["event"] = "retrying"
            event["available_at"] = values["available_at"]
        events.append(event)
        if state is RunState.FAILED and run.attempt_count >= run.max_attempts:
            reason = (f"failed {run.attempt_count} of {run.max_attempts} attempts; "
                      f"last: {outcome.value}: {ending.error or 'no message'}")
            conn.execute(dead_letters.insert().values(
                run_id=run.id, job_id=job.id, kind="exhausted", reason=reason, created_at=now))
            events.append({**event, "event": "dead_letter", "reason": reason})
        new_states[ending.attempt_id] = state.value
    record_events(conn, now, events)
    if notify:
        _notify_claimers(conn)
    return new_states
