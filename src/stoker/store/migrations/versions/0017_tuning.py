"""The tuning loop (docs/tuning.md): a job's policy (`jobs.tuning`), its profiled runs, trials and
per-bucket state.

Revision ID: 0017_tuning
Revises: 0016_teams
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_tuning"
down_revision = "0016_teams"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("tuning", sa.JSON))
    op.create_table(
        "tuning_runs",
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("bucket", sa.Integer),
        sa.Column("trial_id", sa.String(36)),
        sa.Column("succeeded", sa.Boolean, nullable=False),
        sa.Column("profile", sa.JSON, nullable=False),
        sa.Column("findings", sa.JSON, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=False),
        sa.Column("analysed_at", sa.Float, nullable=False),
    )
    op.create_index("ix_tuning_runs_job", "tuning_runs", ["job_id", "finished_at"])
    op.create_table(
        "tuning_trials",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("bucket", sa.Integer),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("conf", sa.JSON, nullable=False),
        sa.Column("before", sa.JSON, nullable=False),
        sa.Column("findings", sa.JSON, nullable=False),
        sa.Column("prediction", sa.JSON, nullable=False),
        sa.Column("measured", sa.JSON),
        sa.Column("verdict", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("decided_at", sa.Float),
        sa.UniqueConstraint("job_id", "number", name="uq_tuning_trials_job_number"),
    )
    op.create_table(
        "tuning_state",
        sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), primary_key=True),
        sa.Column("bucket", sa.Integer, primary_key=True),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("trial_id", sa.String(36)),
        sa.Column("layer", sa.JSON, nullable=False),
        sa.Column("rejected", sa.JSON, nullable=False),
        sa.Column("exploratory_runs", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tuning_state")
    op.drop_table("tuning_trials")
    op.drop_index("ix_tuning_runs_job", table_name="tuning_runs")
    op.drop_table("tuning_runs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("tuning")
