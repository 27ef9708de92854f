"""Spark summaries count killed tasks apart from failed ones, as Spark's History Server does.

Revision ID: 0008_events_killed_tasks
Revises: 0007_ui_sessions
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_events_killed_tasks"
# The line (docs/migrations.md); it revised 0002_events in the old branching history.
down_revision = "0007_ui_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("spark_apps") as batch:
        batch.add_column(sa.Column("killed_tasks", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("spark_apps") as batch:
        batch.drop_column("killed_tasks")
