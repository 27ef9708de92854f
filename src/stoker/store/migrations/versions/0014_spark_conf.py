"""Spark configuration per job and per run (docs/spark-conf.md): a job's `conf`, a run's own layers
(`runs.conf`: {"job": {...}, "run": {...}}, fixed at submit) and the effective configuration its
latest attempt ran with (`runs.effective_conf`: key -> {"value", "source"}).

Revision ID: 0014_spark_conf
Revises: 0013_secrets
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_spark_conf"
down_revision = "0013_secrets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("conf", sa.JSON))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("conf", sa.JSON))
        batch.add_column(sa.Column("effective_conf", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("effective_conf")
        batch.drop_column("conf")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("conf")
