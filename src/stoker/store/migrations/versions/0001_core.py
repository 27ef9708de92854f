"""Core schema: tokens, jobs, runs, attempts, dead letters, outbox.

Revision ID: 0001_core
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("mode", sa.String(20), nullable=False, server_default="session"),
        sa.Column("max_concurrent_runs", sa.Integer, nullable=False, server_default="1"),
        sa.Column("max_attempts", sa.Integer, nullable=False, server_default="3"),
        sa.Column("backoff", sa.String(20), nullable=False, server_default="exponential"),
        sa.Column("backoff_seconds", sa.Float, nullable=False, server_default="1"),
        sa.Column("timeout_seconds", sa.Float),
        sa.Column("auto_retry", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("running_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.CheckConstraint("running_count >= 0", name="ck_jobs_running_count_nonnegative"),
        sa.CheckConstraint("max_concurrent_runs >= 1", name="ck_jobs_max_concurrent_runs_positive"),
        sa.CheckConstraint("max_attempts >= 1", name="ck_jobs_max_attempts_positive"),
    )
    op.create_table(
        "runs",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("batch_id", sa.String(36)),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("lane", sa.String(20), nullable=False, server_default="spark"),
        sa.Column("steps", sa.JSON),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("secrets", sa.Text),
        sa.Column("idempotency_key", sa.String(200)),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attempt_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("available_at", sa.Float, nullable=False),
        sa.Column("queued_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("result", sa.JSON),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("job_id", "idempotency_key", name="uq_runs_job_idempotency_key"),
        sa.CheckConstraint(
            "state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')", name="ck_runs_state"
        ),
        sa.CheckConstraint("attempt_count <= max_attempts", name="ck_runs_attempts_bounded"),
    )
    op.create_index("ix_runs_batch_id", "runs", ["batch_id"])
    op.create_index("ix_runs_claim", "runs", ["state", "lane", "priority", "seq"])
    op.create_index("ix_runs_job_state", "runs", ["job_id", "state", "seq"])
    op.create_table(
        "attempts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("worker_id", sa.String(200), nullable=False),
        sa.Column("executor", sa.String(40)),
        sa.Column("outcome", sa.String(20)),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
        sa.Column("lease_expires_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("result", sa.JSON),
        sa.Column("log", sa.Text),
        sa.Column("spark_app_id", sa.String(200)),
        sa.Column("spark_job_group", sa.String(200)),
        sa.UniqueConstraint("run_id", "number", name="uq_attempts_run_number"),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('succeeded', 'failed', 'timed_out', 'lost', 'cancelled')",
            name="ck_attempts_outcome",
        ),
    )
    active = sa.text("outcome IS NULL")
    op.create_index("uq_attempts_one_active_per_run", "attempts", ["run_id"], unique=True,
                    sqlite_where=active, postgresql_where=active)
    op.create_index("ix_attempts_active_lease", "attempts", ["lease_expires_at"],
                    sqlite_where=active, postgresql_where=active)
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_dead_letters_run_id", "dead_letters", ["run_id"])
    op.create_table(
        "outbox",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "settings_kv",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("settings_kv", "outbox", "dead_letters", "attempts", "runs", "jobs", "tokens"):
        op.drop_table(table)
