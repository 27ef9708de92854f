"""The queue: claim attempts under a lease, renew the lease, finish, and reap expired leases.

The runs table is the queue (a QUEUED row is a queue entry). Every function here is one
transaction, and every guarantee is held by the database:

* claim locks candidate runs (PostgreSQL: FOR UPDATE SKIP LOCKED, so claimers never wait on each
  other's rows) and then the rows of their jobs (FOR NO KEY UPDATE, in id order so claimers cannot
  deadlock). NO KEY UPDATE excludes every other claim and finish of the job as FOR UPDATE did, but
  not the FOR KEY SHARE lock a run insert's foreign-key check takes on its job's row: submits of a
  job no longer wait for its claims and finishes to commit, nor claims for submits. With the job
  rows locked, `jobs.running_count` is exact, and at most `max_concurrent_runs - running_count` runs
  of a job start. On SQLite the transaction began with BEGIN IMMEDIATE, which serialises all
  writers; the same statements are then atomic as a whole.
* a partial unique index allows one active attempt (outcome IS NULL) per run.
* teams: a team at its quota of RUNNING runs gets no candidates, and candidates are taken from the
  teams with work queued in turn, fewest RUNNING first (store/team_share.py).
* finish, heartbeat and reap change an attempt only `WHERE outcome IS NULL` (and, for reap, only
  while its lease is expired): whoever ends an attempt first wins; the other gets Fenced and
  changes nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stoker.core.attempts import Claimed
from stoker.core.errors import Fenced
from stoker.core.limits import DEFAULT_LEASE_SECONDS
from stoker.core.states import Outcome, RunState, attempt_id_for, backoff_delay, next_state_after
from stoker.store.db import Database
from stoker.store.outbox import RunEventName, notify_work_arrived, record_events, run_event
from stoker.store.tables import attempts, dead_letters, jobs, runs
from stoker.store.task_hosts import TaskHosts, earlier_hosts
from stoker.store.team_share import TeamShares, container_needs


@dataclass(frozen=True)
class Ending:
    attempt_id: str
    outcome: Outcome
    result: Any = None
    error: str | None = None
    log: str | None = None
    # A failure a retry cannot fix (executors/failures.py: is_permanent): the run fails now, keeping its
    # remaining attempts for a manual retry once the cause is fixed.
    permanent: bool = False


@dataclass(frozen=True)
class Lease:
    attempt_id: str
    lease_expires_at: float
    cancel_requested: bool


def _needs(candidate: Any, job_rows: Mapping[str, Any]) -> tuple[float, int]:
    """What a candidate takes from its team's quotas of cores and memory: a container run its limits."""
    return container_needs(job_rows[candidate.job_id].spec) if candidate.lane == "container" else (0.0, 0)


class Queue:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    # -- claim ----------------------------------------------------------------------------
    def claim(self, worker_id: str, *, limit: int = 1, lease_seconds: float = DEFAULT_LEASE_SECONDS,
              lanes: Sequence[str] = ("spark", "instant", "container"),
              lane_limits: Mapping[str, int] | None = None,
              executor_by_lane: Mapping[str, str] | None = None,
              own_runtime: bool = True) -> list[Claimed]:
        """Start up to `limit` QUEUED runs of `lanes` (FIFO within a priority), or with
        `lane_limits` up to so many of each lane in one transaction. Container runs are placed on
        a registered host with room (store/task_hosts.py); `own_runtime`: whether the claiming
        worker has a container runtime of its own (the host `local`)."""
        if lane_limits is not None:
            lane_limits = {lane: n for lane, n in lane_limits.items() if n > 0}
            lanes, limit = tuple(lane_limits), sum(lane_limits.values())
        if limit <= 0:
            return []
        now = self.clock()
        with self.db.write() as conn:
            query = (
                sa.select(runs.c.id, runs.c.job_id, runs.c.attempt_count, runs.c.lane, runs.c.team_id,
                          runs.c.waiting)
                .join(jobs, jobs.c.id == runs.c.job_id)
                .where(runs.c.state == RunState.QUEUED.value, runs.c.lane.in_(lanes),
                       runs.c.available_at <= now,
                       jobs.c.running_count < jobs.c.max_concurrent_runs)
                .order_by(runs.c.priority.desc(), runs.c.seq)
                .with_for_update(skip_locked=True, of=runs)
            )
            # Teams' quotas and their fair share of the workers (store/team_share.py).
            shares = TeamShares.read(conn, lanes=lanes, now=now)
            candidates = (conn.execute(query.limit(limit * 2)).all() if shares is None
                          else shares.candidates(conn, query, limit * 2))
            if not candidates:
                return []
            job_rows = {
                j.id: j for j in conn.execute(
                    sa.select(jobs).where(jobs.c.id.in_({c.job_id for c in candidates}))
                    .order_by(jobs.c.id).with_for_update(key_share=True)
                )
            }
            # Read the clock again with the job rows locked: an attempt that ended and freed this
            # slot has committed by now, so a start time is never before the end it waited for.
            now = max(now, self.clock())
            free = {jid: j.max_concurrent_runs - j.running_count for jid, j in job_rows.items()}
            chosen: list[Any] = []
            per_lane: Counter[str] = Counter()
            task_hosts = (TaskHosts.read(conn, own_runtime=own_runtime)
                          if any(c.lane == "container" for c in candidates) else None)
            placed: dict[str, str] = {}  # run id → the host its container goes to
            waiting: dict[str, str] = {}  # run id → why it fits on no host (when that changed)
            for cand in candidates:
                lane_full = lane_limits is not None and per_lane[cand.lane] >= lane_limits[cand.lane]
                if len(chosen) >= limit or free[cand.job_id] <= 0 or lane_full:
                    continue
                host = None
                if cand.lane == "container" and task_hosts is not None:
                    host, why = task_hosts.place(job_rows[cand.job_id].spec)
                    if host is None:
                        if why != cand.waiting:
                            waiting[cand.id] = str(why)
                        continue
                elif cand.lane == "container" and not own_runtime:
                    continue  # no host is registered and this worker has no runtime: another's work
                if shares is not None and not shares.take(cand.team_id, _needs(cand, job_rows)):
                    if host is not None and task_hosts is not None:
                        task_hosts.give_back(host, job_rows[cand.job_id].spec)
                    continue
                if host is not None:
                    placed[cand.id] = host
                free[cand.job_id] -= 1
                per_lane[cand.lane] += 1
                chosen.append(cand)
            if waiting:
                _grouped_update(conn, runs, [(run_id, {"waiting": why}) for run_id, why in waiting.items()])
            if not chosen:
                return []
            for job_id, n in Counter(c.job_id for c in chosen).items():
                conn.execute(jobs.update().where(jobs.c.id == job_id)
                             .values(running_count=jobs.c.running_count + n))
            attempt_ids = {c.id: attempt_id_for(c.id, c.attempt_count + 1) for c in chosen}
            lease_until = now + lease_seconds
            # The attempt's id is derived from (run, number), so one set-based UPDATE starts them all.
            rows = conn.execute(
                runs.update().where(runs.c.id.in_(list(attempt_ids)))
                .values(state=RunState.RUNNING.value, attempt_count=runs.c.attempt_count + 1,
                        started_at=sa.func.coalesce(runs.c.started_at, now), waiting=None)
                .returning(runs.c.id, runs.c.job_id, runs.c.attempt_count, runs.c.lane, runs.c.steps,
                           runs.c.params, runs.c.options, runs.c.secrets, runs.c.conf, runs.c.team_id)
            ).all()
            conn.execute(attempts.insert(), [
                {"id": attempt_ids[r.id], "run_id": r.id, "number": r.attempt_count,
                 "worker_id": worker_id, "executor": (executor_by_lane or {}).get(r.lane),
                 "started_at": now, "host_name": placed.get(r.id),
                 "heartbeat_at": now, "lease_expires_at": lease_until}
                for r in rows
            ])
            retried = [c.id for c in chosen if c.lane == "container" and c.attempt_count > 0]
            earlier = earlier_hosts(conn, retried, task_hosts) if retried and task_hosts is not None else {}
            record_events(conn, now, [
                run_event("running", run_id=r.id, job_id=r.job_id, job=job_rows[r.job_id].name,
                          state=RunState.RUNNING, attempt=r.attempt_count,
                          attempt_id=attempt_ids[r.id], worker_id=worker_id)
                for r in rows
            ])
        order = {c.id: i for i, c in enumerate(chosen)}
        return sorted(
            (Claimed(
                attempt_id=attempt_ids[r.id], run_id=r.id, number=r.attempt_count, job_id=r.job_id,
                job_name=job_rows[r.job_id].name, mode=job_rows[r.job_id].mode, lane=r.lane,
                steps=r.steps, params=r.params, options=r.options, secrets=r.secrets,
                timeout_seconds=job_rows[r.job_id].timeout_seconds, lease_expires_at=lease_until,
                conf=r.conf or {}, team=r.team_id, host=placed.get(r.id),
                host_endpoint=task_hosts.endpoints.get(placed[r.id]) if task_hosts and r.id in placed else None,
                earlier_host_endpoint=earlier.get(r.id),
            ) for r in rows),
            key=lambda c: order[c.run_id],
        )

    def annotate(self, attempt_id: str, **fields: Any) -> None:
        """Record what an active attempt runs on (its Spark app, its job group) and the Spark
        configuration it runs with (`conf`: key -> {"value", "source"}, on its run)."""
        allowed = {k: v for k, v in fields.items() if k in ("spark_app_id", "spark_job_group", "executor")}
        conf = fields.get("conf")
        if allowed or conf is not None:
            with self.db.write() as conn:
                if allowed:
                    conn.execute(attempts.update().where(attempts.c.id == attempt_id,
                                                         attempts.c.outcome.is_(None)).values(**allowed))
                if conf is not None:
                    active = (sa.select(attempts.c.run_id)
                              .where(attempts.c.id == attempt_id, attempts.c.outcome.is_(None)).scalar_subquery())
                    conn.execute(runs.update().where(runs.c.id == active).values(effective_conf=conf))

    # -- heartbeat ------------------------------------------------------------------------
    def heartbeat(self, attempt_ids: Sequence[str], *,
                  lease_seconds: float = DEFAULT_LEASE_SECONDS) -> dict[str, Lease]:
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

    def heartbeat_one(self, attempt_id: str, *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Lease:
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
    """The one place where attempts end: attempt outcome, run state, job semaphore, dead letter,
    events. Set-based, so ending 256 instant runs costs a handful of statements, not 256 × 5."""
    by_id = {e.attempt_id: e for e in endings}
    condition: list[sa.ColumnElement[bool]] = [attempts.c.id.in_(list(by_id)), attempts.c.outcome.is_(None)]
    if only_expired:
        condition.append(attempts.c.lease_expires_at < now)
    how = {e.attempt_id: {"outcome": e.outcome.value, "error": e.error, "result": e.result, "log": e.log}
           for e in endings}
    alike = len({_values_key(v) for v in how.values()}) == 1
    # Claim the right to end them: only attempts still holding their lease (outcome IS NULL). When
    # they all ended alike (a batch of instant runs), the same statement records how.
    ended = conn.execute(
        attempts.update().where(*condition)
        .values(finished_at=now, **(next(iter(how.values())) if alike else {}))
        .returning(attempts.c.id, attempts.c.run_id, attempts.c.number)
    ).all()
    if not ended:
        return {}
    if not alike:
        _grouped_update(conn, attempts, [(a.id, how[a.id]) for a in ended])
    # The runs, locked, with their jobs' policy. The job rows are not locked here: a finish only
    # gives slots back (`running_count - n`, the last statement before COMMIT, so the row lock that
    # claims and finishes of the job queue for is held for one round trip and the commit).
    run_rows = {r.id: r for r in conn.execute(
        sa.select(runs.c.id, runs.c.job_id, runs.c.attempt_count, runs.c.max_attempts,
                  runs.c.cancel_requested, jobs.c.name.label("job_name"), jobs.c.auto_retry,
                  jobs.c.backoff, jobs.c.backoff_seconds)
        .join(jobs, jobs.c.id == runs.c.job_id)
        .where(runs.c.id.in_([a.run_id for a in ended])).with_for_update(of=runs))}
    new_states: dict[str, str] = {}
    run_updates: list[tuple[str, dict[str, Any]]] = []
    letters: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for attempt in ended:
        ending, run = by_id[attempt.id], run_rows[attempt.run_id]
        outcome = ending.outcome
        permanent = ending.permanent and outcome is Outcome.FAILED
        state = next_state_after(outcome, run.attempt_count, run.max_attempts,
                                 run.auto_retry and not permanent, bool(run.cancel_requested))
        requeued = state is RunState.QUEUED
        error = None if state is RunState.SUCCEEDED else ending.error
        update: dict[str, Any] = {
            "state": state.value, "error": error, "finished_at": None if requeued else now,
            "result": ending.result if state is RunState.SUCCEEDED else None,
        }
        ended_fields: dict[str, Any] = {"attempt_id": attempt.id, "outcome": outcome.value, "error": error}
        if requeued:
            # Only a re-queued run gets a new available_at: runs that ended alike then share one
            # UPDATE (each run's own unchanged available_at would make a statement per run).
            update["available_at"] = ended_fields["available_at"] = (
                now + backoff_delay(run.backoff, run.backoff_seconds, run.attempt_count))
        run_updates.append((run.id, update))
        if permanent:
            ended_fields["permanent"] = True
        events.append(run_event("retrying" if requeued else _ENDED_EVENT[state], run_id=run.id,
                                job_id=run.job_id, job=run.job_name, state=state, attempt=attempt.number,
                                **ended_fields))
        if state is RunState.FAILED and run.attempt_count >= run.max_attempts:
            reason = (f"failed {run.attempt_count} of {run.max_attempts} attempts; "
                      f"last: {outcome.value}: {ending.error or 'no message'}")
            letters.append({"run_id": run.id, "job_id": run.job_id, "kind": "exhausted", "reason": reason,
                            "created_at": now})
            events.append(run_event("dead_letter", run_id=run.id, job_id=run.job_id, job=run.job_name, state=state,
                                    attempt=attempt.number, **ended_fields, kind="exhausted",
                                    reason=reason))
        new_states[attempt.id] = state.value
    _grouped_update(conn, runs, run_updates)
    if letters:
        conn.execute(dead_letters.insert(), letters)
    record_events(conn, now, events)
    # Work arrives for other processes: re-queued runs, and the job slots just freed (queued runs of
    # those jobs may start now). Readers there (long-polls, event streams) wake on it too.
    notify_work_arrived(conn)
    # Last: give the slots back. The UPDATE locks each job's row (in id order, as claims do) until
    # COMMIT; `running_count - n` is exact whatever committed since the runs were read.
    freed = Counter(run_rows[a.run_id].job_id for a in ended)
    conn.execute(
        jobs.update().where(jobs.c.id == sa.bindparam("b_id"))
        .values(running_count=jobs.c.running_count - sa.bindparam("b_n")),
        [{"b_id": job_id, "b_n": freed[job_id]} for job_id in sorted(freed)],
    )
    return new_states


# The event of an attempt's end that ends its run too.
_ENDED_EVENT: dict[RunState, RunEventName] = {
    RunState.SUCCEEDED: "succeeded", RunState.FAILED: "failed", RunState.CANCELLED: "cancelled"}


def _grouped_update(conn: Connection, table: sa.Table, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """Update rows by id, one `WHERE id IN (…)` statement per distinct set of values: a batch of
    runs that ended alike (the common case) costs one statement instead of one per row."""
    groups: dict[bytes, tuple[dict[str, Any], list[str]]] = {}
    for row_id, values in rows:
        groups.setdefault(_values_key(values), (values, []))[1].append(row_id)
    for values, ids in groups.values():
        conn.execute(table.update().where(table.c.id.in_(ids)).values(**values))


def _values_key(values: dict[str, Any]) -> bytes:
    return orjson.dumps(values, option=orjson.OPT_SORT_KEYS)
