"""Sate adapter: processing requests and executions.

Revision ID: 0004_sate
Revises: 0003_sinks
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_sate"
# The line (docs/migrations.md); it revised 0001_core in the old branching history.
down_revision = "0003_sinks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sate_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.id")),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "sate_executions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("request_id", sa.String(36), sa.ForeignKey("sate_requests.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("force_error", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("request_id", "number", name="uq_sate_executions_request_number"),
    )


def downgrade() -> None:
    op.drop_table("sate_executions")
    op.drop_table("sate_requests")
