"""What an operator's dashboard needs from the database, read in one short transaction per scrape.

Every figure is derived from the rows themselves (runs, attempts, dead letters, the outbox and the
sink cursors), so every API replica and worker process reports the same truth, whichever one is
scraped. Each query is an aggregate over indexed columns; at 100,000 runs a scrape costs tens of ms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stoker.store.db import Database
from stoker.store.tables import attempts, dead_letters, jobs, outbox, runs, schedule_ticks, sink_cursors

# Upper bounds (seconds) of the histogram buckets of queue wait and attempt duration.
# From a tick to its run being queued (the scheduler looks at least once a second).
FIRE_DELAY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 30.0, 60.0, 300.0)
QUEUE_WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0)


@dataclass
class Histogram:
    """Cumulative bucket counts (one per bound, then +Inf), their sum and count."""

    buckets: list[tuple[float, int]]
    total: float
    count: int


@dataclass
class Snapshot:
    runs: dict[tuple[str, str], int] = field(default_factory=dict)  # (job, state) -> runs
    queued: dict[str, tuple[int, float | None]] = field(default_factory=dict)  # lane -> (depth, oldest queued_at)
    attempts: dict[tuple[str, str], Histogram] = field(default_factory=dict)  # (executor, outcome)
    queue_wait: Histogram | None = None
    dead_letters: dict[str, int] = field(default_factory=dict)  # kind -> entries
    outbox_head: int = 0
    sinks: dict[str, tuple[int, int]] = field(default_factory=dict)  # cursor -> (position, failures)
    fire_delay: Histogram | None = None  # scheduled ticks: tick -> run queued
    missed_ticks: dict[str, int] = field(default_factory=dict)  # job -> ticks missed by the catch-up policy


def snapshot(db: Database) -> Snapshot:
    with db.read() as conn:
        snap = Snapshot()
        for job, state, n in conn.execute(
                sa.select(jobs.c.name, runs.c.state, sa.func.count())
                .select_from(runs.join(jobs, runs.c.job_id == jobs.c.id))
                .group_by(jobs.c.name, runs.c.state)):
            snap.runs[(job, state)] = n
        for lane, n, oldest in conn.execute(
                sa.select(runs.c.lane, sa.func.count(), sa.func.min(runs.c.queued_at))
                .where(runs.c.state == "QUEUED").group_by(runs.c.lane)):
            snap.queued[lane] = (n, oldest)
        duration = attempts.c.finished_at - attempts.c.started_at
        ended = attempts.c.outcome.is_not(None)
        for (executor, outcome), histogram in _histograms(
                conn, [sa.func.coalesce(attempts.c.executor, "unknown"), attempts.c.outcome], duration,
                DURATION_BUCKETS, attempts, ended).items():
            snap.attempts[(str(executor), str(outcome))] = histogram
        # Queue wait: from queued to the start of the first attempt (later attempts wait on purpose,
        # for their backoff).
        wait = attempts.c.started_at - runs.c.queued_at
        first = (attempts.c.number == 1)
        waits = _histograms(conn, [], wait, QUEUE_WAIT_BUCKETS,
                            attempts.join(runs, attempts.c.run_id == runs.c.id), first)
        snap.queue_wait = waits.get((), Histogram([(b, 0) for b in QUEUE_WAIT_BUCKETS], 0.0, 0))
        for kind, n in conn.execute(sa.select(dead_letters.c.kind, sa.func.count())
                                    .group_by(dead_letters.c.kind)):
            snap.dead_letters[kind] = n
        snap.outbox_head = conn.execute(sa.select(sa.func.coalesce(sa.func.max(outbox.c.seq), 0))).scalar_one()
        delay = schedule_ticks.c.fired_at - schedule_ticks.c.tick_at
        fired = (schedule_ticks.c.outcome == "queued") & (schedule_ticks.c.trigger == "schedule")
        snap.fire_delay = _histograms(conn, [], delay, FIRE_DELAY_BUCKETS, schedule_ticks, fired).get(
            (), Histogram([(b, 0) for b in FIRE_DELAY_BUCKETS], 0.0, 0))
        for job, n in conn.execute(
                sa.select(jobs.c.name, sa.func.sum(schedule_ticks.c.missed_count))
                .select_from(schedule_ticks.join(jobs, jobs.c.id == schedule_ticks.c.job_id))
                .where(schedule_ticks.c.outcome == "missed").group_by(jobs.c.name)):
            snap.missed_ticks[job] = int(n or 0)
        for name, position, failures in conn.execute(
                sa.select(sink_cursors.c.name, sink_cursors.c.position, sink_cursors.c.failures)):
            snap.sinks[name] = (position, failures)
        return snap


def _histograms(conn: Connection, labels: list[sa.ColumnElement[object]], value: sa.ColumnElement[float],
                bounds: tuple[float, ...], source: sa.FromClause,
                where: sa.ColumnElement[bool]) -> dict[tuple[object, ...], Histogram]:
    """One GROUP BY computing every bucket's count with SUM(CASE …): one pass over the rows."""
    columns = [sa.func.sum(sa.case((value <= bound, 1), else_=0)) for bound in bounds]
    query = (sa.select(*labels, *columns, sa.func.coalesce(sa.func.sum(value), 0.0), sa.func.count())
             .select_from(source).where(where))
    if labels:
        query = query.group_by(*labels)
    out: dict[tuple[object, ...], Histogram] = {}
    for row in conn.execute(query):
        values: list[Any] = list(row)
        key, counts = tuple(values[:len(labels)]), values[len(labels):len(labels) + len(bounds)]
        total, count = float(values[-2] or 0.0), int(values[-1])
        if count == 0:
            continue
        out[key] = Histogram([(b, int(c or 0)) for b, c in zip(bounds, counts, strict=True)], total, count)
    return out
