"""Jobs: named definitions and their run policy."""

from __future__ import annotations

import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stoker.core.errors import Conflict, NotFound
from stoker.core.teams import DEFAULT_TEAM
from stoker.store.db import Database, insert_unless_exists
from stoker.store.records.jobs import Job
from stoker.store.tables import jobs

ADHOC_JOB = "adhoc"

POLICY_FIELDS = ("mode", "cluster", "max_concurrent_runs", "max_attempts", "backoff", "backoff_seconds",
                 "timeout_seconds", "auto_retry", "description", "options", "notifications", "conf")
CLEARABLE = ("options", "notifications")  # an update may set these to None (removing them)


def job_record(row: Any) -> Job:
    return Job(
        id=row.id, name=row.name, kind=row.kind, spec=row.spec, description=row.description, mode=row.mode,
        max_concurrent_runs=row.max_concurrent_runs, max_attempts=row.max_attempts, backoff=row.backoff,
        backoff_seconds=row.backoff_seconds, timeout_seconds=row.timeout_seconds, auto_retry=row.auto_retry,
        running_count=row.running_count, cluster=row.cluster, options=row.options or {},
        notifications=row.notifications, conf=row.conf or {}, created_at=row.created_at,
        updated_at=row.updated_at, team_id=row.team_id,
    )


class JobStore:
    """Jobs, each a team's: a name is unique in its team. Reads and changes take `team` (another
    team's job is not found; None: every team's, for an admin and the server's own duties)."""

    def __init__(self, db: Database, *, cache_seconds: float = 1.0) -> None:
        self.db = db
        # Submits read their job to validate the request (its kind, its steps). A second's cache
        # spares that read on a busy job; this process drops an entry when it changes the job, and
        # the transaction that queues a run reads the job row again, so the run's policy is never
        # stale. Another replica's change shows here within `cache_seconds`.
        self.cache_seconds = cache_seconds
        self._cache: dict[tuple[str | None, str], tuple[float, Job]] = {}

    def cached(self, name_or_id: str, team: str | None = None) -> Job | None:
        """The job from the cache when it is there and fresh; no database work (an event loop may
        call it)."""
        hit = self._cache.get((team, name_or_id))
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def get_cached(self, name_or_id: str, team: str | None = None) -> Job:
        hit = self.cached(name_or_id, team)
        if hit is not None:
            return hit
        now = time.monotonic()
        job = self.get(name_or_id, team)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[(team, name_or_id)] = (now + self.cache_seconds, job)
        return job

    def create(self, name: str, kind: str, spec: dict[str, Any], *, team: str = DEFAULT_TEAM, **policy: Any) -> Job:
        with self.db.write() as conn:
            job_id = self.create_in(conn, name, kind, spec, team=team, **policy)
        return self.get(job_id)

    def create_in(self, conn: Connection, name: str, kind: str, spec: dict[str, Any], *,
                  team: str = DEFAULT_TEAM, **policy: Any) -> str:
        """Insert a job of `team` inside the caller's transaction; returns its id (Conflict if the
        team has a job of that name: another team's job of the same name is that team's own)."""
        if conn.execute(sa.select(jobs.c.id).where(jobs.c.name == name, jobs.c.team_id == team)).first() is not None:
            raise Conflict(f"a job named {name!r} already exists", job=name)
        now = time.time()
        values = {"id": str(uuid.uuid4()), "name": name, "kind": kind, "spec": spec,
                  "created_at": now, "updated_at": now, "team_id": team,
                  **{k: v for k, v in policy.items() if k in POLICY_FIELDS and v is not None}}
        try:  # a concurrent insert of the same name (PostgreSQL) aborts the caller's transaction
            conn.execute(jobs.insert().values(**values))
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"a job named {name!r} already exists", job=name) from exc
        return str(values["id"])

    def update(self, name_or_id: str, *, team: str | None = None, **changes: Any) -> Job:
        values = {k: v for k, v in changes.items()
                  if (k in POLICY_FIELDS or k == "spec") and (v is not None or k in CLEARABLE)}
        self._cache.clear()  # before and after: no reader keeps the old job past this change
        with self.db.write() as conn:
            row = self._find(conn, name_or_id, team)
            if values:
                conn.execute(jobs.update().where(jobs.c.id == row.id)
                             .values(**values, updated_at=time.time()))
        self._cache.clear()
        return self.get(row.id)

    def get(self, name_or_id: str, team: str | None = None) -> Job:
        with self.db.read() as conn:
            return job_record(self._find(conn, name_or_id, team))

    def get_many(self, ids: list[str]) -> list[Job]:
        """The jobs with these ids, in one read (those that exist)."""
        with self.db.read() as conn:
            return [job_record(r) for r in conn.execute(sa.select(jobs).where(jobs.c.id.in_(ids)))]

    def row(self, conn: Connection, name_or_id: str, team: str | None = None) -> Any:
        return self._find(conn, name_or_id, team)

    def list(self, team: str | None = None) -> list[Job]:
        query = sa.select(jobs).order_by(jobs.c.name)
        if team is not None:
            query = query.where(jobs.c.team_id == team)
        with self.db.read() as conn:
            return [job_record(r) for r in conn.execute(query)]

    def with_notifications(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """job id -> (name, notifications) of every job that has notifications."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(jobs.c.id, jobs.c.name, jobs.c.notifications)
                                .where(jobs.c.notifications.is_not(None))).all()
        return {r.id: (r.name, r.notifications) for r in rows if r.notifications}

    def ensure(self, conn: Connection, name: str, kind: str = "pipeline",
               spec: dict[str, Any] | None = None, *, team: str = DEFAULT_TEAM, **policy: Any) -> Any:
        """Get `team`'s job by name inside `conn`, creating it if missing (race-free: unique name
        in the team): the ad-hoc job and the seed APIs' jobs, one per team."""
        mine = sa.select(jobs).where(jobs.c.name == name, jobs.c.team_id == team)
        row = conn.execute(mine).first()
        if row is not None:
            return row
        now = time.time()
        values = {"id": str(uuid.uuid4()), "name": name, "kind": kind, "spec": spec or {},
                  "created_at": now, "updated_at": now, "team_id": team, **policy}
        conn.execute(insert_unless_exists(conn, jobs, values, ["team_id", "name"]))
        return conn.execute(mine).one()

    @staticmethod
    def _find(conn: Connection, name_or_id: str, team: str | None = None) -> Any:
        query = sa.select(jobs).where(sa.or_(jobs.c.id == name_or_id, jobs.c.name == name_or_id))
        if team is not None:
            query = query.where(jobs.c.team_id == team)
        # By id first: an admin naming a job by name may find several teams' (it takes one).
        row = conn.execute(query.order_by((jobs.c.id == name_or_id).desc(), jobs.c.team_id)).first()
        if row is None:
            raise NotFound(f"no job named or with id {name_or_id!r}")
        return row
