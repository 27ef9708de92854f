"""Schedules in the store: a job's cron and where it stands, what is due, and firing it.

Every tick fires at most once because firing is one transaction that moves the schedule on only
from where it was read (`next_at` compare-and-set) and queues the tick's run under an idempotency
key made of the tick (the runs' unique constraint): replicas racing for the same schedule queue one
run, and a replica killed mid-firing leaves nothing behind, so the next one fires the tick again.
The overlap policy is decided inside the same transaction, against the runs as they are then.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from stoker.core.states import RunState
from stoker.store.db import Database, insert_unless_exists
from stoker.store.runs import NewRun, RunStore
from stoker.store.tables import jobs, outbox, runs, schedule_ticks, schedules

SCHEDULE_EVENTS = ("schedule.skipped", "schedule.missed", "schedule.refused")
ACTIVE = (RunState.QUEUED.value, RunState.RUNNING.value)


@dataclass(frozen=True)
class ScheduleRecord:
    job_id: str
    job: str
    spec: dict[str, Any]
    paused: bool
    next_at: float | None
    last_tick_at: float
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class TickRecord:
    tick_at: float
    trigger: str
    outcome: str  # queued | skipped | missed | refused
    run_id: str | None
    run_state: str | None
    until_at: float | None  # a missed range: its last tick
    missed_count: int | None  # a missed range: how many ticks
    reason: str | None
    fired_at: float


@dataclass
class PlannedTick:
    """One tick to fire: its run (already validated by the submission service), or why none can be
    made (the job's steps no longer validate with the tick's parameters)."""

    tick_at: float
    idempotency_key: str
    run: NewRun | None
    reason: str | None = None


@dataclass
class Firing:
    """What to do with one due schedule, applied by `fire` only if the schedule still stands where
    it was read (`expected_next_at`)."""

    job_id: str
    expected_next_at: float
    overlap: str
    ticks: list[PlannedTick]
    next_at: float | None
    last_tick_at: float
    missed: tuple[float, float] | None = None
    missed_count: int = 0
    missed_reason: str = ""


@dataclass
class Fired:
    job_id: str
    fired: bool  # False: another replica fired it first, or it changed meanwhile
    outcomes: list[tuple[float, str, str | None]] = field(default_factory=list)  # (tick, outcome, run id)


_SELECT = (sa.select(schedules, jobs.c.name.label("job_name"))
           .join(jobs, jobs.c.id == schedules.c.job_id))
# The firing's statements, built once: building a statement per schedule cost more than SQLite took
# to run it (a thousand schedules due at once: bench/bench_schedules.py, profiled).
_MOVE = (schedules.update()
         .where(schedules.c.job_id == sa.bindparam("b_job_id"), schedules.c.next_at == sa.bindparam("b_expected"))
         .values(next_at=sa.bindparam("b_next_at"), last_tick_at=sa.bindparam("b_last_tick_at"),
                 updated_at=sa.bindparam("b_now")))
_JOB_ROWS = sa.select(jobs).where(jobs.c.id.in_(sa.bindparam("ids", expanding=True)))
_RUN_OF_TICK = sa.select(runs.c.id).where(runs.c.job_id == sa.bindparam("job_id"),
                                          runs.c.idempotency_key == sa.bindparam("key"))
_ACTIVE = (sa.select(runs.c.id).where(runs.c.job_id == sa.bindparam("job_id"), runs.c.state.in_(ACTIVE))
           .order_by(runs.c.seq))


def _record(row: Any) -> ScheduleRecord:
    return ScheduleRecord(job_id=row.job_id, job=row.job_name, spec=row.spec, paused=row.paused,
                          next_at=row.next_at, last_tick_at=row.last_tick_at, created_at=row.created_at,
                          updated_at=row.updated_at)


class ScheduleStore:
    def __init__(self, db: Database, runs_store: RunStore, clock: Callable[[], float]) -> None:
        self.db = db
        self.runs = runs_store
        self.clock = clock

    # -- a job's schedule ---------------------------------------------------------------------
    def put(self, job_id: str, spec: dict[str, Any], *, paused: bool, next_at: float | None) -> None:
        """Set (or replace) a job's schedule. It starts from now: ticks before it are not owed."""
        now = self.clock()
        values = {"spec": spec, "paused": paused, "next_at": None if paused else next_at,
                  "last_tick_at": now, "updated_at": now}
        with self.db.write() as conn:
            updated = conn.execute(schedules.update().where(schedules.c.job_id == job_id).values(**values))
            if updated.rowcount == 0:
                conn.execute(schedules.insert().values(job_id=job_id, created_at=now, **values))

    def delete(self, job_id: str) -> bool:
        with self.db.write() as conn:
            return bool(conn.execute(schedules.delete().where(schedules.c.job_id == job_id)).rowcount)

    def get(self, job_id: str) -> ScheduleRecord | None:
        with self.db.read() as conn:
            row = conn.execute(_SELECT.where(schedules.c.job_id == job_id)).first()
        return _record(row) if row is not None else None

    def get_many(self, job_ids: builtins.list[str]) -> dict[str, ScheduleRecord]:
        if not job_ids:
            return {}
        with self.db.read() as conn:
            rows = conn.execute(_SELECT.where(schedules.c.job_id.in_(job_ids))).all()
        return {row.job_id: _record(row) for row in rows}

    def set_paused(self, job_id: str, paused: bool, next_at: float | None) -> bool:
        """Pause (no next tick) or resume (from now: the ticks of the pause are not owed)."""
        now = self.clock()
        values: dict[str, Any] = {"paused": paused, "updated_at": now,
                                  "next_at": None if paused else next_at}
        if not paused:
            values["last_tick_at"] = now
        with self.db.write() as conn:
            return bool(conn.execute(schedules.update().where(schedules.c.job_id == job_id).values(**values)).rowcount)

    # -- what is due ----------------------------------------------------------------------------
    def due(self, now: float, limit: int) -> builtins.list[ScheduleRecord]:
        """Schedules whose next tick has come, the most overdue first (an index range scan)."""
        with self.db.read() as conn:
            rows = conn.execute(_SELECT.where(schedules.c.next_at <= now)
                                .order_by(schedules.c.next_at).limit(limit)).all()
        return [_record(row) for row in rows]

    def earliest(self) -> float | None:
        """When the next tick of any schedule comes (the scheduler sleeps until then)."""
        with self.db.read() as conn:
            value = conn.execute(sa.select(sa.func.min(schedules.c.next_at))).scalar()
        return float(value) if value is not None else None

    # -- firing --------------------------------------------------------------------------------
    def fire(self, firings: builtins.list[Firing]) -> builtins.list[Fired]:
        """Apply firings in one transaction (see the module's docstring)."""
        now = self.clock()
        out: builtins.list[Fired] = []
        queued_ticks: builtins.list[dict[str, Any]] = []
        with self.db.write() as conn:
            job_rows = {row.id: row for row in conn.execute(_JOB_ROWS, {"ids": [f.job_id for f in firings]})}
            for firing in firings:
                moved = conn.execute(_MOVE, {"b_job_id": firing.job_id, "b_expected": firing.expected_next_at,
                                             "b_next_at": firing.next_at, "b_last_tick_at": firing.last_tick_at,
                                             "b_now": now})
                if moved.rowcount == 0:
                    out.append(Fired(firing.job_id, False))
                    continue
                fired = Fired(firing.job_id, True)
                job_row = job_rows[firing.job_id]
                # The overlap policy looks at the runs of earlier firings: the ticks of one catch-up
                # are owed together (the job's max_concurrent_runs paces them).
                active = self._active(conn, job_row.id) if firing.overlap != "queue" else []
                for tick in firing.ticks:
                    outcome, run_id = self._fire_tick(conn, job_row, firing.overlap, active, tick, "schedule", now,
                                                      queued_ticks)
                    fired.outcomes.append((tick.tick_at, outcome, run_id))
                if firing.missed is not None:
                    first, last = firing.missed
                    self._record_tick(conn, job_row, first, "schedule", "missed", None, now, until_at=last,
                                      reason=firing.missed_reason, missed_count=firing.missed_count)
                out.append(fired)
            self._record_queued(conn, queued_ticks)
        self.runs.wake_local(bool(queued_ticks))
        return out

    def backfill(self, job_id: str, ticks: builtins.list[PlannedTick]) -> builtins.list[tuple[float, str, str | None]]:
        """Queue one run per tick (each under its tick's key: asking twice queues nothing new; a tick
        the schedule already fired keeps its run). The job's concurrency limit paces them."""
        now = self.clock()
        queued_ticks: builtins.list[dict[str, Any]] = []
        with self.db.write() as conn:
            job_row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).one()
            outcomes = [(tick.tick_at, *self._fire_tick(conn, job_row, "queue", [], tick, "backfill", now,
                                                        queued_ticks))
                        for tick in ticks]
            self._record_queued(conn, queued_ticks)
        self.runs.wake_local(bool(queued_ticks))
        return outcomes

    def _fire_tick(self, conn: Connection, job_row: Any, overlap: str, active: builtins.list[str],
                   tick: PlannedTick, trigger: str, now: float,
                   queued_ticks: builtins.list[dict[str, Any]]) -> tuple[str, str | None]:
        if tick.run is None:
            self._record_tick(conn, job_row, tick.tick_at, trigger, "refused", None, now, reason=tick.reason)
            return "refused", None
        if active and overlap != "queue":
            existing = conn.execute(_RUN_OF_TICK, {"job_id": job_row.id, "key": tick.idempotency_key}).scalar()
            if existing is None and overlap == "skip":
                self._record_tick(conn, job_row, tick.tick_at, trigger, "skipped", None, now,
                                  reason=f"run {active[0]} of the job was still {_state(conn, active[0])} "
                                         "(overlap: skip)")
                return "skipped", None
            if existing is None:  # cancel_previous
                for run_id in active:
                    RunStore.cancel_in(conn, run_id, now,
                                       why="cancelled: the next tick came (overlap: cancel_previous)")
                active.clear()
        submitted = self.runs.submit_in(conn, job_row, [tick.run])[0]
        queued_ticks.append({"job_id": job_row.id, "tick_at": tick.tick_at, "trigger": trigger, "outcome": "queued",
                             "run_id": submitted.run_id, "until_at": None, "missed_count": None, "reason": None,
                             "fired_at": now})
        return "queued", submitted.run_id

    @staticmethod
    def _record_queued(conn: Connection, rows: builtins.list[dict[str, Any]]) -> None:
        """The queued ticks of a firing, in one statement (a run has its own `queued` event)."""
        if rows:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            conn.execute(insert(schedule_ticks).on_conflict_do_nothing(index_elements=["job_id", "tick_at"]), rows)

    @staticmethod
    def _active(conn: Connection, job_id: str) -> builtins.list[str]:
        return builtins.list(conn.execute(_ACTIVE, {"job_id": job_id}).scalars())

    @staticmethod
    def _record_tick(conn: Connection, job_row: Any, tick_at: float, trigger: str, outcome: str,
                     run_id: str | None, now: float, *, until_at: float | None = None,
                     reason: str | None = None, missed_count: int | None = None) -> None:
        values = {"job_id": job_row.id, "tick_at": tick_at, "trigger": trigger, "outcome": outcome,
                  "run_id": run_id, "until_at": until_at, "reason": reason, "fired_at": now,
                  "missed_count": missed_count}
        inserted = conn.execute(insert_unless_exists(conn, schedule_ticks, values, ["job_id", "tick_at"])
                                .returning(schedule_ticks.c.tick_at)).first()
        if inserted is not None and outcome != "queued":  # a queued run has its own `queued` event
            payload = {"job_id": job_row.id, "job": job_row.name, "event": f"schedule.{outcome}",
                       "tick": tick_at, "until": until_at, "trigger": trigger, "reason": reason,
                       "missed": missed_count}
            conn.execute(outbox.insert().values(run_id=None, job_id=job_row.id, event=f"schedule.{outcome}",
                                                payload=payload, created_at=now, team_id=job_row.team_id))

    # -- what happened -------------------------------------------------------------------------
    def ticks(self, job_id: str, limit: int) -> builtins.list[TickRecord]:
        """The job's latest ticks, newest first, with the state of each one's run."""
        query = (sa.select(schedule_ticks, runs.c.state.label("run_state"))
                 .outerjoin(runs, runs.c.id == schedule_ticks.c.run_id)
                 .where(schedule_ticks.c.job_id == job_id)
                 .order_by(schedule_ticks.c.tick_at.desc()).limit(limit))
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [TickRecord(tick_at=r.tick_at, trigger=r.trigger, outcome=r.outcome, run_id=r.run_id,
                           run_state=r.run_state, until_at=r.until_at, missed_count=r.missed_count, reason=r.reason,
                           fired_at=r.fired_at)
                for r in rows]


def _state(conn: Connection, run_id: str) -> str:
    return str(conn.execute(sa.select(runs.c.state).where(runs.c.id == run_id)).scalar_one())
