"""The deliveries job notifications owe (docs/notifications.md): made once per run, event, attempt
and destination (a unique key: however often the outbox event is read, or the slow check runs),
then claimed under a lease by one publisher, sent, and marked; retried with backoff while they
fail; the job's delivery history."""

from __future__ import annotations

import builtins
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from stoker.core.states import RunState
from stoker.store.db import Database, insert_unless_exists
from stoker.store.tables import attempts, jobs, notification_deliveries, runs

MEDIAN_OF = 20  # a job's usual duration: the median of its last 20 succeeded runs
MEDIAN_NEEDS = 3  # fewer succeeded runs than this: no usual duration yet


@dataclass(frozen=True)
class Owed:
    """One message to make: a run's notification event for one destination."""

    job_id: str
    run_id: str
    event: str
    attempt: int
    destination: str
    kind: str
    target: str
    spec: dict[str, Any]
    payload: dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    id: str
    job_id: str
    run_id: str
    event: str
    attempt: int
    kind: str
    target: str
    spec: dict[str, Any]
    payload: dict[str, Any]
    state: str
    tries: int
    next_at: float
    last_error: str | None
    created_at: float
    delivered_at: float | None

    @classmethod
    def from_row(cls, row: Any) -> Delivery:
        return cls(row.id, row.job_id, row.run_id, row.event, row.attempt, row.kind, row.target, row.spec,
                   row.payload, row.state, row.tries, row.next_at, row.last_error, row.created_at, row.delivered_at)


@dataclass(frozen=True)
class RunFacts:
    """What a message says of its run."""

    job: str
    state: str
    attempt_count: int
    max_attempts: int
    error: str | None
    started_at: float | None  # of the first attempt
    finished_at: float | None
    usual: float | None  # the job's median duration, when it has enough succeeded runs


@dataclass(frozen=True)
class SlowRun:
    job_id: str
    run_id: str
    attempt: int
    started_at: float  # the current attempt's start


class NotificationStore:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def enqueue(self, owed: Sequence[Owed]) -> int:
        """Make the deliveries not made yet (the unique key drops the others); how many were new."""
        if not owed:
            return 0
        now = self.clock()
        made = 0
        with self.db.write() as conn:
            for o in owed:
                values = {"id": str(uuid.uuid4()), "job_id": o.job_id, "run_id": o.run_id, "event": o.event,
                          "attempt": o.attempt, "destination": o.destination, "kind": o.kind, "target": o.target,
                          "spec": o.spec, "payload": o.payload, "state": "pending", "tries": 0, "next_at": now,
                          "created_at": now}
                inserted = conn.execute(insert_unless_exists(conn, notification_deliveries, values,
                                                             ["run_id", "event", "attempt", "destination"])
                                        .returning(notification_deliveries.c.id)).first()
                made += inserted is not None
        return made

    def claim(self, owner: str, lease_seconds: float, limit: int = 20) -> list[Delivery]:
        """Take due deliveries no live publisher holds: each by a conditional UPDATE, so of several
        replicas exactly one sends it while its lease lasts."""
        now = self.clock()
        d = notification_deliveries
        free = sa.or_(d.c.owner.is_(None), d.c.lease_expires_at < now)
        with self.db.read() as conn:
            ids = [r[0] for r in conn.execute(sa.select(d.c.id).where(d.c.state == "pending", d.c.next_at <= now, free)
                                              .order_by(d.c.next_at).limit(limit))]
        taken: list[Delivery] = []
        for delivery_id in ids:
            with self.db.write() as conn:
                row = conn.execute(d.update().where(d.c.id == delivery_id, d.c.state == "pending", free)
                                   .values(owner=owner, lease_expires_at=now + lease_seconds)
                                   .returning(*d.c)).first()
            if row is not None:
                taken.append(Delivery.from_row(row))
        return taken

    def delivered(self, delivery_id: str, owner: str) -> None:
        d = notification_deliveries
        with self.db.write() as conn:
            conn.execute(d.update().where(d.c.id == delivery_id, d.c.owner == owner).values(
                state="delivered", tries=d.c.tries + 1, delivered_at=self.clock(), owner=None,
                lease_expires_at=None, last_error=None))

    def failed(self, delivery_id: str, owner: str, error: str, retry_in: float | None) -> None:
        """A try failed: again in `retry_in` seconds, or (None) given up: `failed` for good."""
        d = notification_deliveries
        with self.db.write() as conn:
            conn.execute(d.update().where(d.c.id == delivery_id, d.c.owner == owner).values(
                state="pending" if retry_in is not None else "failed", tries=d.c.tries + 1,
                next_at=self.clock() + (retry_in or 0.0), owner=None, lease_expires_at=None, last_error=error[:2000]))

    def history(self, job_id: str, limit: int = 50) -> builtins.list[Delivery]:
        d = notification_deliveries
        with self.db.read() as conn:
            return [Delivery.from_row(r) for r in conn.execute(
                sa.select(d).where(d.c.job_id == job_id).order_by(d.c.created_at.desc(), d.c.id).limit(limit))]

    def status(self, job_id: str) -> dict[str, Any]:
        """Counts by state, and the newest error of a delivery that has not got through."""
        d = notification_deliveries
        with self.db.read() as conn:
            counts: dict[str, int] = {str(r[0]): int(r[1]) for r in conn.execute(
                sa.select(d.c.state, sa.func.count()).where(d.c.job_id == job_id).group_by(d.c.state))}
            last = conn.execute(sa.select(d.c.last_error, d.c.target, d.c.kind).where(
                d.c.job_id == job_id, d.c.state != "delivered", d.c.last_error.is_not(None))
                .order_by(d.c.next_at.desc()).limit(1)).first()
        return {"pending": int(counts.get("pending", 0)), "delivered": int(counts.get("delivered", 0)),
                "failed": int(counts.get("failed", 0)),
                "last_error": f"{last.kind} {last.target}: {last.last_error}" if last is not None else None}

    def facts(self, run_id: str) -> RunFacts | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(runs.c.state, runs.c.attempt_count, runs.c.max_attempts, runs.c.error,
                                         runs.c.started_at, runs.c.finished_at, runs.c.job_id, jobs.c.name)
                               .join(jobs, jobs.c.id == runs.c.job_id).where(runs.c.id == run_id)).first()
            if row is None:
                return None
            usual = self._median(conn, row.job_id)
        return RunFacts(row.name, row.state, row.attempt_count, row.max_attempts, row.error, row.started_at,
                        row.finished_at, usual)

    def median(self, job_id: str) -> float | None:
        with self.db.read() as conn:
            return self._median(conn, job_id)

    @staticmethod
    def _median(conn: Any, job_id: str) -> float | None:
        durations = [r[0] - r[1] for r in conn.execute(
            sa.select(runs.c.finished_at, runs.c.started_at)
            .where(runs.c.job_id == job_id, runs.c.state == RunState.SUCCEEDED.value,
                   runs.c.started_at.is_not(None), runs.c.finished_at.is_not(None))
            .order_by(runs.c.seq.desc()).limit(MEDIAN_OF))]
        return statistics.median(durations) if len(durations) >= MEDIAN_NEEDS else None

    def running(self, job_ids: Sequence[str]) -> builtins.list[SlowRun]:
        """The RUNNING runs of these jobs, with their current attempt's start (for the slow check)."""
        if not job_ids:
            return []
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(runs.c.job_id, runs.c.id, attempts.c.number, attempts.c.started_at)
                .join(attempts, sa.and_(attempts.c.run_id == runs.c.id, attempts.c.outcome.is_(None)))
                .where(runs.c.state == RunState.RUNNING.value, runs.c.job_id.in_(list(job_ids)))).all()
        return [SlowRun(r.job_id, r.id, r.number, r.started_at) for r in rows]
