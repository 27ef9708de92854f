"""A Spark app that fell silent (its driver died without an ApplicationEnd) is marked ended, and
says by what.

Revision ID: 0009_events_ended_by
Revises: 0008_events_killed_tasks
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_events_ended_by"
down_revision = "0008_events_killed_tasks"  # the line: docs/migrations.md
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("spark_apps") as batch:
        batch.add_column(sa.Column("ended_by", sa.String(40)))


def downgrade() -> None:
    with op.batch_alter_table("spark_apps") as batch:
        batch.drop_column("ended_by")
