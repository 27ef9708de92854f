"""The Alembic migrations build exactly the schema the code declares, on SQLite and PostgreSQL;
their history is one line, and a database of the old branching history upgrades onto it."""

from __future__ import annotations

import itertools
import re
import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import stoker.store.db
from stoker.store.db import Database
from stoker.store.migration_history import OLD_PARENTS
from stoker.store.tables import metadata

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return (f"sqlite:///{tmp_path / 'm.db'}" if backend == "sqlite"
            else request.getfixturevalue("fresh_postgres_url"))


def _schema_diff(db: Database) -> list[object]:
    with db.writer.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_match_tables(tmp_path, backend, request):
    db = Database(_url(backend, tmp_path, request))
    try:
        db.upgrade()
        assert _schema_diff(db) == []
    finally:
        db.dispose()


MIGRATIONS = Path(stoker.store.db.__file__).parent / "migrations"


def _scripts() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS))


def _line() -> list[str]:
    scripts = _scripts()
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def test_the_history_is_one_line():
    scripts = _scripts()
    assert len(scripts.get_heads()) == 1 and len(scripts.get_bases()) == 1
    line = _line()
    for before, after in itertools.pairwise(line):
        assert scripts.get_revision(after).down_revision == before
        assert not scripts.get_revision(after).branch_labels
    assert len(line) == len(set(line)) == len(list(scripts.walk_revisions()))


def test_the_line_keeps_every_old_dependency():
    """A revision comes after the one it revised in the old history, so running what an old
    database lacks in line order runs it after what it needs."""
    line = _line()
    assert set(OLD_PARENTS) <= set(line)
    for revision, parent in OLD_PARENTS.items():
        assert parent is None or line.index(parent) < line.index(revision)


# Databases the old history made: `upgrade heads` at three points of its life (each set holds
# the revisions that existed then; the revision files arrived on main out of number order).
OLD_STATES = {
    "all six heads": set(OLD_PARENTS),
    "before containers and cluster duties": set(OLD_PARENTS) - {"0006_containers", "0010_cluster_duties"},
    "the first day": {"0001_core", "0002_events", "0003_sinks", "0004_sate"},
}


def _old_history(tmp_path: Path, revisions: set[str]) -> Path:
    """A copy of the migrations with the old branching history: the revision files as they are
    (their upgrades did not change), each revising what it revised before, only `revisions`."""
    target = tmp_path / "old_migrations"
    shutil.copytree(MIGRATIONS, target, ignore=shutil.ignore_patterns("__pycache__"))
    for path in (target / "versions").glob("*.py"):
        if path.stem not in revisions:
            path.unlink()
            continue
        parent = OLD_PARENTS[path.stem]
        text, n = re.subn(r'^down_revision = .*$', f"down_revision = {parent!r}", path.read_text(), flags=re.M)
        assert n == 1
        path.write_text(text)
    return target


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("state", list(OLD_STATES))
def test_a_database_of_the_old_branching_history_upgrades_onto_the_line(tmp_path, backend, state, request):
    import sqlalchemy as sa
    from alembic import command

    db = Database(_url(backend, tmp_path, request))
    try:
        old = db.alembic_config()
        old.set_main_option("script_location", str(_old_history(tmp_path, OLD_STATES[state])))
        command.upgrade(old, "heads")
        with db.write() as conn:
            versions = {row[0] for row in conn.execute(sa.text("SELECT version_num FROM alembic_version"))}
            assert len(versions) > 1  # several heads: what the old history left
            conn.execute(sa.text("INSERT INTO jobs (id, name, kind, spec, created_at, updated_at) "
                                 "VALUES ('j', 'kept', 'pipeline', '{}', 0, 0)"))
        db.upgrade()
        with db.read() as conn:
            assert [row[0] for row in conn.execute(sa.text("SELECT version_num FROM alembic_version"))] \
                == [_line()[-1]]
            assert conn.execute(sa.text("SELECT name FROM jobs")).scalar_one() == "kept"
        assert _schema_diff(db) == []
        db.upgrade()  # and again: nothing to do
    finally:
        db.dispose()


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
