"""Container jobs: their image import state, and their runs read as batches (Stevedore's results).

A container job is a job of kind `container` plus one `container_images` row; a result is a batch
of its runs (runs.batch_id), a detail one run with its latest attempt (where a failed container's
exit code and output are kept). Each write is one transaction.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from stoker.core.errors import Conflict, NotFound
from stoker.store.db import Database
from stoker.store.jobs import JobStore
from stoker.store.tables import attempts, container_images, jobs, runs

IMAGE_STATUSES = ("SUBMITTED", "IMPORTING", "READY", "ERROR")
CONTAINER_KIND = "container"


class ContainerStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.jobs = JobStore(db)

    # -- container jobs -------------------------------------------------------------------
    def create(self, name: str, spec: dict[str, Any], *, status: str, image_digest: str | None = None,
               repository: str | None = None, **policy: Any) -> dict[str, Any]:
        """A container job and its image row, in one transaction. A repository that is already a
        task, or a taken name, is refused (409) naming the task that has it."""
        now = time.time()
        with self.db.write() as conn:
            if repository is not None:
                taken = conn.execute(
                    sa.select(jobs.c.id, jobs.c.name).join(container_images,
                                                           container_images.c.job_id == jobs.c.id)
                    .where(container_images.c.repository == repository)).first()
                if taken is not None:
                    raise Conflict(f"repository {repository!r} is already registered as task "
                                   f"{taken.id} ({taken.name!r})", task_id=taken.id, name=taken.name)
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

    def get(self, name_or_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(_job_select().where(
                sa.or_(jobs.c.id == name_or_id, jobs.c.name == name_or_id))).first()
        if row is None:
            raise NotFound(f"no container job named or with id {name_or_id!r}")
        return _job_to_dict(row)

    def image_of(self, job_id: str) -> dict[str, Any] | None:
        """The image row of a job (None: the job is no container job)."""
        with self.db.read() as conn:
            row = conn.execute(sa.select(container_images)
                               .where(container_images.c.job_id == job_id)).first()
        return dict(row._mapping) if row is not None else None

    def all(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(_job_select().order_by(jobs.c.created_at, jobs.c.name)).all()
        return [_job_to_dict(r) for r in rows]

    def pending_imports(self) -> list[dict[str, Any]]:
        """Container jobs whose import was started but never ended (the process that ran it died)."""
        with self.db.read() as conn:
            rows = conn.execute(_job_select().where(
                container_images.c.status.in_(["SUBMITTED", "IMPORTING"]))).all()
        return [_job_to_dict(r) for r in rows]

    def ended_attempts(self, attempt_ids: list[str]) -> set[str]:
        """Which of these attempts no longer hold their lease (ended, or unknown here)."""
        if not attempt_ids:
            return set()
        with self.db.read() as conn:
            active = set(conn.execute(sa.select(attempts.c.id).where(
                attempts.c.id.in_(attempt_ids), attempts.c.outcome.is_(None))).scalars())
        return set(attempt_ids) - active

    # -- batches of container runs (Stevedore's results and details) -----------------------
    def batches(self, *, batch_id: str | None = None, job_id: str | None = None) -> list[dict[str, Any]]:
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
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            batch = out.setdefault(r.batch_id, {"batch_id": r.batch_id, "job_id": r.job_id, "counts": [],
                                                "submitted_at": r.submitted_at, "start": r.start,
                                                "end": r.end})
            batch["counts"].append((r.state, r.outcome, r.n))
            batch["submitted_at"] = min(batch["submitted_at"], r.submitted_at)
            batch["start"] = _min(batch["start"], r.start)
            batch["end"] = _max(batch["end"], r.end)
        return sorted(out.values(), key=lambda b: b["submitted_at"])

    def batch_runs(self, batch_id: str, *, run_id: str | None = None, limit: int | None = None,
                   offset: int = 0) -> list[dict[str, Any]]:
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
        if limit is not None:
            query = query.limit(limit).offset(offset)
        with self.db.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


def _job_select() -> sa.Select:  # type: ignore[type-arg]
    return (sa.select(jobs, container_images.c.status, container_images.c.error.label("image_error"),
                      container_images.c.image_digest, container_images.c.repository)
            .join(container_images, container_images.c.job_id == jobs.c.id))


def _job_to_dict(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "spec": row.spec, "description": row.description,
            "max_concurrent_runs": row.max_concurrent_runs, "max_attempts": row.max_attempts,
            "status": row.status, "error": row.image_error, "image_digest": row.image_digest,
            "repository": row.repository, "created_at": row.created_at, "updated_at": row.updated_at}


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)
