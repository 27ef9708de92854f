"""Spark events: per-app summary rows and event chunks.

Revision ID: 0002_events
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_events"
down_revision = "0001_core"  # the line: docs/migrations.md
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spark_apps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_name", sa.String(200), nullable=False),
        sa.Column("run_id", sa.String(200), nullable=False),
        sa.Column("first_seen_at", sa.Float, nullable=False),
        sa.Column("last_seen_at", sa.Float, nullable=False),
        sa.Column("event_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("chunk_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("app_name", sa.Text),
        sa.Column("app_id", sa.String(200)),
        sa.Column("spark_version", sa.String(50)),
        sa.Column("start_ms", sa.BigInteger),
        sa.Column("end_ms", sa.BigInteger),
        sa.Column("jobs", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed_jobs", sa.Integer, nullable=False, server_default="0"),
        sa.Column("stages", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed_stages", sa.Integer, nullable=False, server_default="0"),
        sa.Column("tasks", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("failed_tasks", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("executors_added", sa.Integer, nullable=False, server_default="0"),
        sa.Column("executors_removed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("task_time_ms", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("gc_time_ms", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("shuffle_read_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("shuffle_write_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("spilled_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("input_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("input_records", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("output_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("output_records", sa.BigInteger, nullable=False, server_default="0"),
        sa.UniqueConstraint("job_name", "run_id", name="uq_spark_apps_job_run"),
    )
    op.create_table(
        "spark_event_chunks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("spark_app_id", sa.Integer, sa.ForeignKey("spark_apps.id"), nullable=False),
        sa.Column("payload_counter", sa.BigInteger, nullable=False),
        sa.Column("message_counter", sa.BigInteger, nullable=False),
        sa.Column("event_count", sa.Integer, nullable=False),
        sa.Column("min_generated_at", sa.BigInteger, nullable=False),
        sa.Column("max_generated_at", sa.BigInteger, nullable=False),
        sa.Column("ordered", sa.Boolean, nullable=False),
        sa.Column("codec", sa.String(16), nullable=False, server_default="none"),
        sa.Column("times", sa.LargeBinary, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.UniqueConstraint("spark_app_id", "payload_counter", "message_counter",
                            name="uq_spark_event_chunks_payload"),
    )
    op.create_index("ix_spark_event_chunks_app_time", "spark_event_chunks",
                    ["spark_app_id", "min_generated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_spark_event_chunks_app_time", table_name="spark_event_chunks")
    op.drop_table("spark_event_chunks")
    op.drop_table("spark_apps")
