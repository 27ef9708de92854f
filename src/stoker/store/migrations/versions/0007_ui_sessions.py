"""Web UI sessions (server-side, revocable, expiring), and the indexes the UI reads runs by.

Revision ID: 0007_ui_sessions
Revises: 0007_sate_records
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_ui_sessions"
# The line (docs/migrations.md); it revised 0001_core in the old branching history.
down_revision = "0007_sate_records"
branch_labels = None
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
    # The UI's reads with many runs stored (see store/tables.py).
    op.create_index("ix_runs_finished_state", "runs", ["finished_at", "state"])
    op.create_index("ix_runs_state_seq", "runs", ["state", "seq"])


def downgrade() -> None:
    op.drop_index("ix_runs_state_seq", table_name="runs")
    op.drop_index("ix_runs_finished_state", table_name="runs")
    op.drop_index("ix_ui_sessions_token_id", table_name="ui_sessions")
    op.drop_table("ui_sessions")
