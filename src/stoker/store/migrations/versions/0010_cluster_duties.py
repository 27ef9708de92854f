"""Cluster duties in one replica: the `leases` table (leader lease) and a repair request a
non-leader replica records for the leader.

Revision ID: 0010_cluster_duties
Revises: 0009_events_ended_by
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_cluster_duties"
# The line (docs/migrations.md); it revised 0005_clusters in the old branching history.
down_revision = "0009_events_ended_by"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("clusters") as batch:
        batch.add_column(sa.Column("repair_requested_at", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("repair_requested_at")
    op.drop_table("leases")
