"""Container hosts (docs/hosts.md): the machines that run cluster nodes and container tasks
(`hosts`), and the host each cluster node was placed on (`cluster_nodes.host_name`).

Revision ID: 0015_hosts
Revises: 0014_spark_conf
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_hosts"
down_revision = "0014_spark_conf"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hosts",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("endpoint", sa.String(500)),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("cores", sa.Integer, nullable=False),
        sa.Column("mem", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("health", sa.String(20), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("checked_at", sa.Float),
        sa.Column("failing_since", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.CheckConstraint("state IN ('active', 'draining')", name="ck_hosts_state"),
        sa.CheckConstraint("health IN ('unknown', 'up', 'down')", name="ck_hosts_health"),
    )
    with op.batch_alter_table("cluster_nodes") as batch:
        batch.add_column(sa.Column("host_name", sa.String(100)))


def downgrade() -> None:
    with op.batch_alter_table("cluster_nodes") as batch:
        batch.drop_column("host_name")
    op.drop_table("hosts")
