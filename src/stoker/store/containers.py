"""Container jobs: their image import state, and their runs read as batches (Stevedore's results).

A container job is a job of kind `container` plus one `container_images` row; a result is a batch
of its runs (runs.batch_id), a detail one run with its latest attempt (where a failed container's
exit code and output are kept). Each write is one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from stoker.core.errors import Conflict, NotFound
from stoker.core.teams import DEFAULT_TEAM
from stoker.store.db import Database
from stoker.store.jobs import JobStore
from stoker.store.records.containers import Batch, BatchRun, ContainerImage, ContainerJob
from stoker.store.tables import attempts, container_images, jobs, runs

IMAGE_STATUSES = ("SUBMITTED", "IMPORTING", "READY", "ERROR")
CONTAINER_KIND = "container"


class ContainerStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.jobs = JobStore(db)

    # -- container jobs -------------------------------------------------------------------
    def create(self, name: str, spec: dict[str, Any], *, status: str, image_digest: str | None = None,
               repository: str | None = None, **policy: Any) -> ContainerJob:
        """A container job and its image row, in one transaction. A repository that is already a
        task, or a taken name, is refused (409) naming the task that has it."""
        now = time.time()
        with self.db.write() as conn:
            if repository is not None:
                taken = conn.execute(
                    sa.select(jobs.c.id, jobs.c.name, jobs.c.team_id).join(container_images,
                                                           container_images.c.job_id == jobs.c.id)
                    .where(container_images.c.repository == repository)).first()
                if taken is not None and taken.team_id == policy.get("team", DEFAULT_TEAM):
                    raise Conflict(f"repository {repository!r} is already registered as task "
                                   f"{taken.id} ({taken.name!r})", task_id=taken.id, name=taken.name)
                if taken is not None:  # another team's task: not named (a repository is one task server-wide)
                    raise Conflict(f"repository {repository!r} is already registered as a task")
            job_id = self.jobs.create_in(conn, name, CONTAINER_KIND, spec, **policy)
            conn.execute(container_images.insert().values(
                job_id=job_id, image=spec["image"], repository=repository, status=status,
                image_digest=image_digest, created_at=now, updated_at=now))
        return self.get(job_id)

    def set_status(self, job_id: str, status: str, *, error: str | None = None,
                   image_digest: str | None = None) -> None:
        with self.db.write() as conn:
            conn.execute(container_images.update().where(container_images.c.job_id == job_id)
                         .values(status=status, error=error, image_digest=image_digest,
                                 updated_at=time.time()))

    def get(self, name_or_id: str, team: str | None = None) -> ContainerJob:
        """A container job (of `team`: another team's is not found)."""
        query = _job_select().where(sa.or_(jobs.c.id == name_or_id, jobs.c.name == name_or_id))
        if team is not None:
            query = query.where(jobs.c.team_id == team)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no container job named or with id {name_or_id!r}")
        return _container_job(row)

    def image_of(self, job_id: str) -> ContainerImage | None:
        """The image row of a job (None: the job is no container job)."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(container_images)
                               .where(container_images.c.job_id == job_id)).first()
        if row is None:
            return None
        return ContainerImage(job_id=row.job_id, image=row.image, repository=row.repository, status=row.status,
                              error=row.error, image_digest=row.image_digest, created_at=row.created_at,
                              updated_at=row.updated_at)

    def all(self, team: str | None = None) -> list[ContainerJob]:
        query = _job_select().order_by(jobs.c.created_at, jobs.c.name)
        if team is not None:
            query = query.where(jobs.c.team_id == team)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [_container_job(r) for r in rows]

    def pending_imports(self) -> list[ContainerJob]:
        """Container jobs whose import was started but never ended (the process that ran it died)."""
        with self.db.read() as conn:
            rows = conn.execute(_job_select().where(
                container_images.c.status.in_(["SUBMITTED", "IMPORTING"]))).all()
        return [_container_job(r) for r in rows]

    def ended_attempts(self, attempt_ids: list[str]) -> set[str]:
        """Which of these attempts no longer hold their lease (ended, or unknown here)."""
        if not attempt_ids:
            return set()
        with self.db.read() as conn:
            active = set(conn.execute(sa.select(attempts.c.id).where(
                attempts.c.id.in_(attempt_ids), attempts.c.outcome.is_(None))).scalars())
        return set(attempt_ids) - active

    # -- batches of container runs (Stevedore's results and details) -----------------------
    def batches(self, *, batch_id: str | None = None, job_id: str | None = None,
                team: str | None = None) -> list[Batch]:
        """Per batch of container runs (of one job, or one batch): its job, times, and run counts by
        (state, last outcome)."""
        last = attempts.alias("last_attempt")
        query = (
            sa.select(runs.c.batch_id, runs.c.job_id, runs.c.state, last.c.outcome,
                      sa.func.count().label("n"), sa.func.min(runs.c.queued_at).label("submitted_at"),
                      sa.func.min(runs.c.started_at).label("start"),
                      sa.func.max(runs.c.finished_at).label("end"))
            .join(jobs, jobs.c.id == runs.c.job_id)
            .outerjoin(last, sa.and_(last.c.run_id == runs.c.id, last.c.number == runs.c.attempt_count))
            .where(jobs.c.kind == CONTAINER_KIND, runs.c.batch_id.is_not(None))
            .group_by(runs.c.batch_id, runs.c.job_id, runs.c.state, last.c.outcome)
        )
        if batch_id is not None:
            query = query.where(runs.c.batch_id == batch_id)
        if job_id is not None:
            query = query.where(runs.c.job_id == job_id)
        if team is not None:
            query = query.where(runs.c.team_id == team)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        groups: dict[str, list[Any]] = {}  # a row per (state, outcome) of each batch
        for r in rows:
            groups.setdefault(r.batch_id, []).append(r)
        out = [Batch(batch_id=batch_id, job_id=group[0].job_id, counts=[(r.state, r.outcome, r.n) for r in group],
                     submitted_at=min(r.submitted_at for r in group),
                     start=_least(r.start for r in group), end=_greatest(r.end for r in group))
               for batch_id, group in groups.items()]
        return sorted(out, key=lambda b: b.submitted_at)

    def batch_runs(self, batch_id: str, *, run_id: str | None = None, limit: int | None = None,
                   offset: int = 0, team: str | None = None) -> list[BatchRun]:
        """The runs of a batch of container runs (in submission order; a page of them with `limit`),
        each with its latest attempt's outcome and result."""
        last = attempts.alias("last_attempt")
        query = (
            sa.select(runs.c.id, runs.c.batch_id, runs.c.job_id, runs.c.state, runs.c.queued_at,
                      runs.c.started_at, runs.c.finished_at, runs.c.error, runs.c.attempt_count,
                      runs.c.options, last.c.outcome, last.c.result.label("attempt_result"))
            .join(jobs, jobs.c.id == runs.c.job_id)
            .outerjoin(last, sa.and_(last.c.run_id == runs.c.id, last.c.number == runs.c.attempt_count))
            .where(jobs.c.kind == CONTAINER_KIND, runs.c.batch_id == batch_id)
            .order_by(runs.c.seq)
        )
        if run_id is not None:
            query = query.where(runs.c.id == run_id)
        if team is not None:
            query = query.where(runs.c.team_id == team)
        if limit is not None:
            query = query.limit(limit).offset(offset)
        with self.db.read() as conn:
            return [BatchRun(**r._mapping) for r in conn.execute(query)]


def _job_select() -> sa.Select:  # type: ignore[type-arg]
    return (sa.select(jobs, container_images.c.status, container_images.c.error.label("image_error"),
                      container_images.c.image_digest, container_images.c.repository)
            .join(container_images, container_images.c.job_id == jobs.c.id))


def _container_job(row: Any) -> ContainerJob:
    return ContainerJob(id=row.id, name=row.name, spec=row.spec, description=row.description,
                        max_concurrent_runs=row.max_concurrent_runs, max_attempts=row.max_attempts,
                        status=row.status, error=row.image_error, image_digest=row.image_digest,
                        repository=row.repository, created_at=row.created_at, updated_at=row.updated_at,
                        team_id=row.team_id)


def _least(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _greatest(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None
