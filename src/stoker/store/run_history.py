"""A job's earlier runs as a running run's estimate needs them: how long their successful attempts
took (one indexed read: runs by job and state, newest first, joined to their last attempt)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from stoker.store.db import Database
from stoker.store.tables import attempts, runs

SCANNED = 100  # runs looked at, newest first, to find `limit` alike


def succeeded_durations(db: Database, job_id: str, *, before_seq: int | None = None, steps: Any = None,
                        limit: int = 20) -> list[float]:
    """Seconds taken by the successful attempts of the job's latest SUCCEEDED runs (before run
    `before_seq`, when given); with `steps`, only runs of these same steps (the ad-hoc job runs
    every kind of pipeline)."""
    query = (sa.select(attempts.c.started_at, attempts.c.finished_at, runs.c.steps)
             .join(attempts, sa.and_(attempts.c.run_id == runs.c.id, attempts.c.number == runs.c.attempt_count))
             .where(runs.c.job_id == job_id, runs.c.state == "SUCCEEDED", attempts.c.finished_at.is_not(None))
             .order_by(runs.c.seq.desc()).limit(SCANNED if steps is not None else limit))
    if before_seq is not None:
        query = query.where(runs.c.seq < before_seq)
    with db.read() as conn:
        rows = conn.execute(query).all()
    return [float(row.finished_at - row.started_at) for row in rows
            if steps is None or row.steps == steps][:limit]
