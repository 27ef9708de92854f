"""A chunk's digest (events/digest.py): what the analysis of its app folds in of its events, stored
at ingest, so the first view of an app reads no event's JSON. Chunks stored before have none and
are read from their events as before.

Revision ID: 0019_event_digests
Revises: 0018_container_hosts
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_event_digests"
down_revision = "0018_container_hosts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column without a default: an ALTER TABLE ADD COLUMN on both databases, no copy of
    # the chunks (the largest table).
    with op.batch_alter_table("spark_event_chunks") as batch:
        batch.add_column(sa.Column("digest", sa.LargeBinary))


def downgrade() -> None:
    with op.batch_alter_table("spark_event_chunks") as batch:
        batch.drop_column("digest")
