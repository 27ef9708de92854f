"""Teams, who belongs to them with which role, and the audit log (migration 0016_teams).

Every resource table carries a `team_id` (the team's id, which is its URL-safe name); rows made
before teams are in the default team. No foreign keys to `teams`: the store checks a team when a
row gets one, and tests empty every table between them.
"""

from __future__ import annotations

import sqlalchemy as sa

from stoker.store.tables.core import metadata

teams = sa.Table(
    "teams",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # its name: short, URL-safe, never renamed
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    # Quotas (docs/teams.md): NULL is no limit.
    sa.Column("max_running_runs", sa.Integer),
    sa.Column("max_cores", sa.Integer),
    sa.Column("max_memory_mb", sa.Integer),
    sa.Column("created_at", sa.Float, nullable=False),
)

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("team_id", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(64), primary_key=True, index=True),
    sa.Column("role", sa.String(20), nullable=False),
    # Where it came from: `manual` (an owner or admin set it) or `oidc` (the provider's groups).
    sa.Column("source", sa.String(20), nullable=False, server_default="manual"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.CheckConstraint("role IN ('viewer', 'runner', 'editor', 'owner')", name="ck_memberships_role"),
)

# Append-only: rows are inserted, and deleted only by the retention (store/audit.py prune).
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("team_id", sa.String(64), nullable=False),  # the team acted in ("" for server-wide acts)
    sa.Column("actor", sa.String(64), nullable=False),  # the user name
    sa.Column("token_id", sa.String(36)),
    sa.Column("source", sa.String(100)),  # where from: the client's address, or `cli`
    sa.Column("action", sa.String(100), nullable=False),  # `POST /api/v1/jobs`, `token.create`, `sign-in` …
    sa.Column("target", sa.Text),  # what: the resource (path parameters, a token id, …)
    sa.Column("status", sa.Integer),  # the HTTP status it was answered with
    sa.Column("detail", sa.JSON),
)
sa.Index("ix_audit_log_team_seq", audit_log.c.team_id, audit_log.c.seq)
sa.Index("ix_audit_log_at", audit_log.c.at)
