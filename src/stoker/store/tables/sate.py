"""Sate's records (seed-apis.md §5): a processing request, and each execution of it (an attempt of
the request's run, named before it starts). store/sate.py holds their transactions."""

from __future__ import annotations

import sqlalchemy as sa

from stoker.store.tables.core import metadata, team_id

sate_requests = sa.Table(
    "sate_requests",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    # The request body as the client sent it: its payload (any JSON value), its other fields, and
    # apart, the sealed secrets of a pipeline payload's options (options.s3).
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("extra", sa.JSON),
    sa.Column("secrets", sa.Text),
    sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.id")),
    sa.Column("created_at", sa.Float, nullable=False),
    team_id(),
)

sate_executions = sa.Table(
    "sate_executions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # = the attempt's id
    sa.Column("request_id", sa.String(36), sa.ForeignKey("sate_requests.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("body", sa.JSON, nullable=False),  # the execution body as sent (force_error, extras)
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("request_id", "number", name="uq_sate_executions_request_number"),
)
