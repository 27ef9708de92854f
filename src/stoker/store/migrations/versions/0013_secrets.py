"""Named secrets (envelope-encrypted), a job's options and notifications, and the deliveries of
notifications (issue 29).

Revision ID: 0013_secrets
Revises: 0012_schedules
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_secrets"
down_revision = "0012_schedules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("key_names", sa.JSON, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("ciphertext", sa.Text, nullable=False),
        sa.Column("wrapped_key", sa.Text, nullable=False),
        sa.Column("master_key_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.CheckConstraint("kind IN ('s3', 'env', 'generic')", name="ck_secrets_kind"),
    )
    op.create_index("ix_secrets_master_key_id", "secrets", ["master_key_id"])
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("destination", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("tries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("lease_expires_at", sa.Float),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("delivered_at", sa.Float),
        sa.UniqueConstraint("run_id", "event", "attempt", "destination", name="uq_notification_once"),
        sa.CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="ck_notification_state"),
    )
    op.create_index("ix_notification_due", "notification_deliveries", ["state", "next_at"])
    op.create_index("ix_notification_job", "notification_deliveries", ["job_id", "created_at"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("options", sa.JSON))
        batch.add_column(sa.Column("notifications", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("notifications")
        batch.drop_column("options")
    op.drop_index("ix_notification_job", "notification_deliveries")
    op.drop_index("ix_notification_due", "notification_deliveries")
    op.drop_table("notification_deliveries")
    op.drop_index("ix_secrets_master_key_id", "secrets")
    op.drop_table("secrets")
