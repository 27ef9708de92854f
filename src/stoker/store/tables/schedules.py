"""Schedules: a job's cron and where it stands, and the ticks it fired, skipped or missed."""

from __future__ import annotations

import sqlalchemy as sa

from stoker.store.tables.core import metadata

# One per scheduled job. `spec` is the schedule as the user gave it (core/schedules.py parses it);
# `next_at` the next tick to look at (NULL: paused or past its end), the one column the scheduler's
# loop asks about; `last_tick_at` the newest tick handled (fired, skipped or missed): the next
# firing looks at the ticks after it, so a restart neither repeats nor forgets one.
schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("next_at", sa.Float),
    sa.Column("last_tick_at", sa.Float, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
sa.Index("ix_schedules_due", schedules.c.next_at)

# One per tick that came due (queued, skipped by the overlap policy, failed to submit) or per range
# of ticks missed by the catch-up policy (`until_at` its last tick). Its key is the tick: a tick is
# recorded once, in the transaction that queued its run.
schedule_ticks = sa.Table(
    "schedule_ticks",
    metadata,
    sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), primary_key=True),
    sa.Column("tick_at", sa.Float, primary_key=True),
    sa.Column("trigger", sa.String(20), nullable=False),  # schedule | backfill
    sa.Column("outcome", sa.String(20), nullable=False),  # queued | skipped | missed | refused
    sa.Column("run_id", sa.String(36)),
    sa.Column("until_at", sa.Float),
    sa.Column("missed_count", sa.Integer),  # a missed range: how many ticks it holds
    sa.Column("reason", sa.Text),
    sa.Column("fired_at", sa.Float, nullable=False),
)
