"""Container tasks placed on hosts (docs/hosts.md): the host an attempt's container runs on
(`attempts.host_name`, its capacity held while the attempt is), and why a queued container run
waits (`runs.waiting`: no host has room for it).

Revision ID: 0018_container_hosts
Revises: 0017_tuning
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_container_hosts"
down_revision = "0017_tuning"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("host_name", sa.String(63)))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("waiting", sa.Text))
    op.create_index("ix_attempts_active_host", "attempts", ["host_name"],
                    sqlite_where=sa.text("outcome IS NULL"), postgresql_where=sa.text("outcome IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_attempts_active_host", "attempts")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("waiting")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("host_name")
