"""The Alembic migrations build exactly the schema the code declares."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from stoker.store.db import Database
from stoker.store.tables import metadata


def test_migrations_match_tables(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade()
    with db.writer.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_sate_records_keep_their_data_through_0007(tmp_path, backend, request):
    """Requests and executions written before 0007 read back as bodies ({"payload"}, {"force_error"})."""
    import sqlalchemy as sa
    from alembic import command

    url = (f"sqlite:///{tmp_path / 'm.db'}" if backend == "sqlite"
           else request.getfixturevalue("fresh_postgres_url"))
    db = Database(url)
    command.upgrade(db.alembic_config(), "0004_sate")
    with db.write() as conn:
        conn.execute(sa.text("INSERT INTO jobs (id, name, kind, spec, created_at, updated_at) "
                             "VALUES ('j', 'sate', 'pipeline', '{}', 0, 0)"))
        conn.execute(sa.text("INSERT INTO runs (id, job_id, state, params, options, max_attempts, "
                             "available_at, queued_at) VALUES ('r', 'j', 'FAILED', '{}', '{}', 3, 0, 0)"))
        conn.execute(sa.text("INSERT INTO sate_requests (id, payload, run_id, created_at) "
                             "VALUES ('q', '{\"message\": \"ping\"}', 'r', 1)"))
        conn.execute(sa.text("INSERT INTO sate_executions (id, request_id, number, force_error, created_at) "
                             "VALUES ('e', 'q', 1, true, 2)"))
    db.upgrade()
    from stoker.store.tables import sate_executions, sate_requests

    with db.read() as conn:
        request_row = conn.execute(sa.select(sate_requests.c.payload, sate_requests.c.extra)).one()
        assert tuple(request_row) == ({"message": "ping"}, None)
        assert conn.execute(sa.select(sate_executions.c.body)).scalar_one() == {"force_error": True}
    db.dispose()
