"""Sate records as the client sent them (a request's extra fields, an execution's body with a
force_error of any JSON value), sealed payload secrets, and a seed API's identifiers on dead letters.

Only sate_executions is rebuilt (on SQLite, batch mode copies a table): sate_requests, which it
references, only gains columns, so no foreign key breaks while a table is copied.

Revision ID: 0007_sate_records
Revises: 0006_containers
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_sate_records"
# The line (docs/migrations.md); it revised 0004_sate in the old branching history.
down_revision = "0006_containers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dead_letters", sa.Column("request_id", sa.String(200)))
    op.add_column("dead_letters", sa.Column("seed_message", sa.JSON))
    op.create_index("ix_dead_letters_request_id", "dead_letters", ["request_id"])
    op.add_column("sate_requests", sa.Column("extra", sa.JSON))
    op.add_column("sate_requests", sa.Column("secrets", sa.Text))

    op.add_column("sate_executions", sa.Column("body", sa.JSON))
    conn = op.get_bind()
    executions = sa.table("sate_executions", sa.column("id", sa.String),
                          sa.column("force_error", sa.Boolean), sa.column("body", sa.JSON))
    for row in conn.execute(sa.select(executions.c.id, executions.c.force_error)).all():
        conn.execute(executions.update().where(executions.c.id == row.id)
                     .values(body={"force_error": bool(row.force_error)}))
    with op.batch_alter_table("sate_executions") as batch:
        batch.alter_column("body", existing_type=sa.JSON, nullable=False)
        batch.drop_column("force_error")


def downgrade() -> None:
    with op.batch_alter_table("sate_executions") as batch:
        batch.add_column(sa.Column("force_error", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.drop_column("body")
    with op.batch_alter_table("sate_requests") as batch:
        batch.drop_column("secrets")
        batch.drop_column("extra")
    op.drop_index("ix_dead_letters_request_id", "dead_letters")
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_column("seed_message")
        batch.drop_column("request_id")
