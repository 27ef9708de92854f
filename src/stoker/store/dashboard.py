"""The numbers of the overview page: counts by state, the queue's depth and age, the last hour's
throughput, the running attempts. Each is one indexed query, so the page stays fast with many runs."""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa

from stoker.core.states import RunState
from stoker.store.db import Database
from stoker.store.records import from_row
from stoker.store.records.operations import MinuteCount, RunningAttempt
from stoker.store.tables import attempts, jobs, runs

BUCKET_SECONDS = 60


class Dashboard:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def counts_by_state(self) -> dict[str, int]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(runs.c.state, sa.func.count()).group_by(runs.c.state)).all()
        counts = {state.value: 0 for state in RunState}
        for state, count in rows:
            counts[state] = count
        return counts

    def oldest_queued_at(self) -> float | None:
        """When the longest-waiting queued run was submitted: the queued run of the lowest seq (runs
        are numbered as they are submitted), found at the start of the (state, seq) index."""
        with self.db.read() as conn:
            return conn.execute(sa.select(runs.c.queued_at).where(runs.c.state == RunState.QUEUED.value)
                                .order_by(runs.c.seq).limit(1)).scalar()

    def throughput(self, seconds: int = 3600) -> list[MinuteCount]:
        """Finished runs per minute over the last `seconds`: one row per minute (empty ones too),
        with how many succeeded and how many failed."""
        now = self.clock()
        since = now - seconds
        bucket = sa.cast((runs.c.finished_at - since) / BUCKET_SECONDS, sa.Integer).label("bucket")
        query = (sa.select(bucket, runs.c.state, sa.func.count())
                 .where(runs.c.finished_at >= since).group_by(bucket, runs.c.state))
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        minutes = seconds // BUCKET_SECONDS
        succeeded, failed = [0] * minutes, [0] * minutes
        for index, state, count in rows:
            if not 0 <= index < minutes:
                continue
            if state == RunState.SUCCEEDED.value:
                succeeded[index] += count
            elif state == RunState.FAILED.value:
                failed[index] += count
        return [MinuteCount(at=since + i * BUCKET_SECONDS, succeeded=succeeded[i], failed=failed[i])
                for i in range(minutes)]

    def running_attempts(self, limit: int = 50) -> list[RunningAttempt]:
        query = (sa.select(attempts.c.run_id, attempts.c.number, attempts.c.worker_id, attempts.c.executor,
                           attempts.c.started_at, attempts.c.heartbeat_at, jobs.c.name.label("job"))
                 .join(runs, runs.c.id == attempts.c.run_id).join(jobs, jobs.c.id == runs.c.job_id)
                 .where(attempts.c.outcome.is_(None)).order_by(attempts.c.started_at).limit(limit))
        with self.db.read() as conn:
            return [from_row(RunningAttempt, r) for r in conn.execute(query)]
