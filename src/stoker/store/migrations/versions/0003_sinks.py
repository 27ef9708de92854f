"""Sinks: delivery cursors with leases, and webhooks.

Revision ID: 0003_sinks
Revises: 0002_events
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_sinks"
# The line (docs/migrations.md); it revised 0001_core in the old branching history.
down_revision = "0002_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sink_cursors",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("owner", sa.String(200)),
        sa.Column("lease_expires_at", sa.Float),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("events", sa.JSON),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("webhooks")
    op.drop_table("sink_cursors")
