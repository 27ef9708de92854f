"""Web UI sessions (server-side, revocable, expiring), and the index the overview reads.

Revision ID: 0007_ui_sessions
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_ui_sessions"
down_revision = "0001_core"
branch_labels = ("ui",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ui_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("token_id", sa.String(36), sa.ForeignKey("tokens.id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
    )
    op.create_index("ix_ui_sessions_token_id", "ui_sessions", ["token_id"])
    # The overview's throughput chart reads the last hour of finished runs.
    op.create_index("ix_runs_finished_at", "runs", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_finished_at", table_name="runs")
    op.drop_index("ix_ui_sessions_token_id", table_name="ui_sessions")
    op.drop_table("ui_sessions")
