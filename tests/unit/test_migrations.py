"""The Alembic migrations build exactly the schema the code declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from stoker.schema import all_tables
from stoker.store.db import Database


def test_migrations_match_tables(tmp_path):
    metadata = all_tables()
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.upgrade()
    with db.writer.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
