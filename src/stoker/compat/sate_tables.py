"""Sate's own records: processing requests (a request becomes a run at its first execution) and
executions (each one attempt of that run, named before it starts)."""

from __future__ import annotations

import sqlalchemy as sa

from stoker.store.tables import metadata

sate_requests = sa.Table(
    "sate_requests",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.id")),
    sa.Column("created_at", sa.Float, nullable=False),
)

sate_executions = sa.Table(
    "sate_executions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # = the attempt's id
    sa.Column("request_id", sa.String(36), sa.ForeignKey("sate_requests.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("force_error", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("request_id", "number", name="uq_sate_executions_request_number"),
)
