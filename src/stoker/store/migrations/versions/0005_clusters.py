"""Clusters: products, clusters, their nodes and status history; cluster events in the outbox.

Revision ID: 0005_clusters
Revises: 0004_sate
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_clusters"
# The line (docs/migrations.md); it revised 0001_core in the old branching history.
down_revision = "0004_sate"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Cluster events share the outbox with run events but belong to no run or job.
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("run_id", existing_type=sa.String(36), nullable=True)
        batch.alter_column("job_id", existing_type=sa.String(36), nullable=True)
    op.add_column("jobs", sa.Column("cluster", sa.String(36)))  # the job policy `cluster`
    op.create_table(
        "products",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("version", sa.String(50), primary_key=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("logo_url", sa.String(500)),
        sa.Column("template", sa.Text),
        sa.Column("template_format", sa.String(10), nullable=False, server_default="json"),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("orchestrator", sa.String(100)),
        sa.Column("builtin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "clusters",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("product", sa.String(100), nullable=False),
        sa.Column("version", sa.String(50), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("size", sa.Integer),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("orchestrator", sa.String(100), nullable=False),
        sa.Column("needs_cores", sa.Integer, nullable=False),
        sa.Column("needs_mem", sa.Integer, nullable=False),
        sa.Column("master_url", sa.String(500)),
        sa.Column("web_url", sa.String(500)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(["product", "version"], ["products.name", "products.version"]),
        sa.UniqueConstraint("owner", "product", "version", "number", name="uq_clusters_owner_number"),
        sa.CheckConstraint(
            "status IN ('registered', 'scheduling', 'scheduled', 'configuring', 'configured', 'ready', "
            "'degraded', 'failed', 'destroyed')", name="ck_clusters_status"),
    )
    op.create_index("ix_clusters_status", "clusters", ["status", "seq"])
    op.create_table(
        "cluster_nodes",
        sa.Column("cluster_id", sa.String(36), sa.ForeignKey("clusters.id"), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("service", sa.String(100)),
        sa.Column("role", sa.String(40)),
        sa.Column("cpu", sa.Integer, nullable=False),
        sa.Column("mem", sa.Integer, nullable=False),
        sa.Column("host", sa.String(200)),
        sa.Column("port", sa.Integer),
        sa.Column("web_port", sa.Integer),
        sa.Column("pid", sa.Integer),
        sa.Column("pid_started_at", sa.Float),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("workdir", sa.String(1000)),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "cluster_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cluster_id", sa.String(36), sa.ForeignKey("clusters.id"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_cluster_history_cluster_id", "cluster_history", ["cluster_id"])


def downgrade() -> None:
    op.drop_index("ix_cluster_history_cluster_id", "cluster_history")
    op.drop_table("cluster_history")
    op.drop_table("cluster_nodes")
    op.drop_index("ix_clusters_status", "clusters")
    op.drop_table("clusters")
    op.drop_table("products")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("cluster")
    op.execute("DELETE FROM outbox WHERE run_id IS NULL OR job_id IS NULL")
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("run_id", existing_type=sa.String(36), nullable=False)
        batch.alter_column("job_id", existing_type=sa.String(36), nullable=False)
