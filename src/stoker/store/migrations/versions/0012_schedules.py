"""Schedules: a job's cron (`schedules`), the ticks it fired, skipped or missed (`schedule_ticks`),
and what a run knows of its tick (`runs.trigger`, `scheduled_for`, `interval_start`, `interval_end`).

Revision ID: 0012_schedules
Revises: 0011_token_users
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_schedules"
down_revision = "0011_token_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), primary_key=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("next_at", sa.Float),
        sa.Column("last_tick_at", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_schedules_due", "schedules", ["next_at"])
    op.create_table(
        "schedule_ticks",
        sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), primary_key=True),
        sa.Column("tick_at", sa.Float, primary_key=True),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("run_id", sa.String(36)),
        sa.Column("until_at", sa.Float),
        sa.Column("missed_count", sa.Integer),
        sa.Column("reason", sa.Text),
        sa.Column("fired_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("trigger", sa.String(20), nullable=False, server_default="api"))
        batch.add_column(sa.Column("scheduled_for", sa.Float))
        batch.add_column(sa.Column("interval_start", sa.Float))
        batch.add_column(sa.Column("interval_end", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for column in ("interval_end", "interval_start", "scheduled_for", "trigger"):
            batch.drop_column(column)
    op.drop_table("schedule_ticks")
    op.drop_index("ix_schedules_due", "schedules")
    op.drop_table("schedules")
