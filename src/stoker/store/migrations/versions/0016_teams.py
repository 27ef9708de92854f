"""Teams (docs/teams.md): the teams, their members' roles and the audit log; a `team_id` on every
resource table. What exists goes to the default team, and every user of a token joins it with the
role its scopes gave it (admin → owner, submit → editor, else viewer), so nothing a token could do
before is taken away. Job names become unique per team.

Revision ID: 0016_teams
Revises: 0014_spark_conf
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0016_teams"
down_revision = "0015_hosts"
branch_labels = None
depends_on = None

DEFAULT_TEAM = "default"
# Every table whose rows belong to a team (tables/teams.py says why there are no foreign keys).
# (Dead letters, attempts, schedules, a container job's image: their run's or job's team.)
TEAM_TABLES = ("tokens", "jobs", "runs", "outbox", "clusters", "spark_apps", "webhooks", "sate_requests")


def _team_id() -> sa.Column[str]:
    return sa.Column("team_id", sa.String(64), nullable=False, server_default=DEFAULT_TEAM)


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("max_running_runs", sa.Integer),
        sa.Column("max_cores", sa.Integer),
        sa.Column("max_memory_mb", sa.Integer),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "memberships",
        sa.Column("team_id", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("source", sa.String(20), nullable=False, server_default="manual"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.CheckConstraint("role IN ('viewer', 'runner', 'editor', 'owner')", name="ck_memberships_role"),
    )
    op.create_index("ix_memberships_user_name", "memberships", ["user_name"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("token_id", sa.String(36)),
        sa.Column("source", sa.String(100)),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.Text),
        sa.Column("status", sa.Integer),
        sa.Column("detail", sa.JSON),
    )
    op.create_index("ix_audit_log_team_seq", "audit_log", ["team_id", "seq"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])

    for table in TEAM_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(_team_id())
    op.create_index("ix_runs_team_seq", "runs", ["team_id", "seq"])

    # Job names: unique per team instead of across the server. The old constraint has no name of
    # its own (PostgreSQL calls it jobs_name_key; SQLite's batch mode names it by convention).
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("jobs_name_key", "jobs", type_="unique")
        op.create_unique_constraint("uq_jobs_team_name", "jobs", ["team_id", "name"])
    else:
        # Batch mode copies jobs to a new table and drops the old one, which the rows of runs,
        # schedules … refer to: env.py runs SQLite's migrations with foreign keys off, as SQLite's
        # own procedure for changing a table says, and checks them afterwards.
        with op.batch_alter_table("jobs", recreate="always",
                                  naming_convention={"uq": "uq_%(table_name)s_%(column_0_name)s"}) as batch:
            batch.drop_constraint("uq_jobs_name", type_="unique")
            batch.create_unique_constraint("uq_jobs_team_name", ["team_id", "name"])

    _rebuild_secrets(by_team=True)  # named per team: their key becomes (team, name)

    conn = op.get_bind()
    now = time.time()
    teams = sa.table("teams", sa.column("id"), sa.column("description"), sa.column("created_at"))
    conn.execute(teams.insert().values(id=DEFAULT_TEAM, description="the team of everything made before teams",
                                       created_at=now))
    tokens = sa.table("tokens", sa.column("user_name"), sa.column("scopes"), sa.column("revoked_at"))
    memberships = sa.table("memberships", sa.column("team_id"), sa.column("user_name"), sa.column("role"),
                           sa.column("source"), sa.column("created_at"), sa.column("updated_at"))
    ranks = {"viewer": 0, "editor": 2, "owner": 3}
    roles: dict[str, str] = {}
    for row in conn.execute(sa.select(tokens.c.user_name, tokens.c.scopes)):
        if not row.user_name:
            continue
        scopes = set(row.scopes.split())
        role = "owner" if "admin" in scopes else "editor" if "submit" in scopes else "viewer"
        if ranks[role] > ranks.get(roles.get(row.user_name, "viewer"), 0) or row.user_name not in roles:
            roles[row.user_name] = role
    for user, role in sorted(roles.items()):
        conn.execute(memberships.insert().values(team_id=DEFAULT_TEAM, user_name=user, role=role, source="manual",
                                                 created_at=now, updated_at=now))


_SECRET_COLUMNS = ("name", "kind", "key_names", "description", "ciphertext", "wrapped_key", "master_key_id",
                   "version", "created_at", "created_by", "updated_at", "updated_by")


def _rebuild_secrets(*, by_team: bool) -> None:
    """The secrets table again, with (team, name) as its key or (name) alone: a new table, the rows
    copied, the old one dropped (the same on SQLite, which cannot change a primary key in place,
    and PostgreSQL)."""
    op.create_table(
        "secrets_rebuilt",
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
        *([sa.Column("team_id", sa.String(64), primary_key=True, server_default=DEFAULT_TEAM)] if by_team else []),
        sa.CheckConstraint("kind IN ('s3', 'env', 'generic')", name="ck_secrets_kind"),
    )
    columns = ", ".join(_SECRET_COLUMNS)
    where = f" WHERE team_id = '{DEFAULT_TEAM}'" if not by_team else ""  # other teams' have no place there
    op.execute(f"INSERT INTO secrets_rebuilt ({columns}) SELECT {columns} FROM secrets{where}")
    op.drop_index("ix_secrets_master_key_id", "secrets")
    op.drop_table("secrets")
    op.rename_table("secrets_rebuilt", "secrets")
    op.create_index("ix_secrets_master_key_id", "secrets", ["master_key_id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("uq_jobs_team_name", "jobs", type_="unique")
        op.create_unique_constraint("jobs_name_key", "jobs", ["name"])
    else:
        with op.batch_alter_table("jobs", recreate="always") as batch:
            batch.drop_constraint("uq_jobs_team_name", type_="unique")
            batch.create_unique_constraint("uq_jobs_name", ["name"])
    _rebuild_secrets(by_team=False)
    op.drop_index("ix_runs_team_seq", "runs")
    for table in reversed(TEAM_TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("team_id")
    op.drop_index("ix_audit_log_at", "audit_log")
    op.drop_index("ix_audit_log_team_seq", "audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_memberships_user_name", "memberships")
    op.drop_table("memberships")
    op.drop_table("teams")
