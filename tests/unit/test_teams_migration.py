"""Migration 0016_teams on a database with data (SQLite and PostgreSQL): what exists goes to the
default team, every token's user joins it with the role its scopes gave it, and job names become
unique per team (not across the server)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from stoker.store.db import Database

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_existing_data_lands_in_the_default_team(tmp_path, backend, request):
    url = (f"sqlite:///{tmp_path / 'm.db'}" if backend == "sqlite"
           else request.getfixturevalue("fresh_postgres_url"))
    db = Database(url)
    try:
        command.upgrade(db.alembic_config(), "0014_spark_conf")
        with db.write() as conn:
            for i, (user, scopes) in enumerate([("admin", "admin"), ("alice", "read submit"), ("vic", "read"),
                                                ("alice", "read")]):
                conn.execute(sa.text("INSERT INTO tokens (id, name, user_name, token_hash, scopes, created_at) "
                                     "VALUES (:id, :n, :u, :h, :s, 0)"),
                             {"id": f"t{i}", "n": user, "u": user, "h": f"h{i}", "s": scopes})
            conn.execute(sa.text("INSERT INTO jobs (id, name, kind, spec, created_at, updated_at) "
                                 "VALUES ('j', 'etl', 'pipeline', '{}', 0, 0)"))
            conn.execute(sa.text("INSERT INTO runs (id, job_id, state, params, options, max_attempts, "
                                 "available_at, queued_at) VALUES ('r', 'j', 'QUEUED', '{}', '{}', 3, 0, 0)"))
            conn.execute(sa.text("INSERT INTO schedules (job_id, spec, next_at, last_tick_at, created_at, "
                                 "updated_at) VALUES ('j', '{}', 0, 0, 0, 0)"))
        db.upgrade()
        with db.read() as conn:
            assert conn.execute(sa.text("SELECT team_id FROM jobs")).scalar_one() == "default"
            assert conn.execute(sa.text("SELECT team_id FROM runs")).scalar_one() == "default"
            assert set(conn.execute(sa.text("SELECT team_id FROM tokens")).scalars()) == {"default"}
            roles = dict(conn.execute(sa.text(
                "SELECT user_name, role FROM memberships WHERE team_id = 'default'")).all())
            # alice's strongest token decides: submit → editor.
            assert roles == {"admin": "owner", "alice": "editor", "vic": "viewer"}
            # The job kept its schedule (SQLite rebuilt the jobs table under it).
            assert conn.execute(sa.text("SELECT job_id FROM schedules")).scalar_one() == "j"
        with db.write() as conn:  # the same name in another team is fine …
            conn.execute(sa.text("INSERT INTO jobs (id, name, kind, spec, created_at, updated_at, team_id) "
                                 "VALUES ('j2', 'etl', 'pipeline', '{}', 0, 0, 'red')"))
        with pytest.raises(sa.exc.IntegrityError), db.write() as conn:  # … not in the same one
            conn.execute(sa.text("INSERT INTO jobs (id, name, kind, spec, created_at, updated_at, team_id) "
                                 "VALUES ('j3', 'etl', 'pipeline', '{}', 0, 0, 'red')"))
    finally:
        db.dispose()
