"""Container jobs: the image import state of each (a Stevedore task's status).

Revision ID: 0006_containers
Revises: 0005_clusters
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_containers"
# The line (docs/migrations.md); it revised 0001_core in the old branching history.
down_revision = "0005_clusters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "container_images",
        sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), primary_key=True),
        sa.Column("image", sa.String(500), nullable=False),
        sa.Column("repository", sa.String(500), unique=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("image_digest", sa.String(200)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.CheckConstraint("status IN ('SUBMITTED', 'IMPORTING', 'READY', 'ERROR')",
                           name="ck_container_images_status"),
    )


def downgrade() -> None:
    op.drop_table("container_images")
