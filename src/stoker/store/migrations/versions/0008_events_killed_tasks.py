"""Spark summaries count killed tasks apart from failed ones, as Spark's History Server does.

Revision ID: 0008_events_killed_tasks
Revises: 0002_events
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_events_killed_tasks"
down_revision = "0002_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("spark_apps") as batch:
        batch.add_column(sa.Column("killed_tasks", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("spark_apps") as batch:
        batch.drop_column("killed_tasks")
