"""Alembic environment: runs migrations on the engine handed over by stoker.store.db."""

from __future__ import annotations

from alembic import context

from stoker.store.tables import metadata

config = context.config


def run() -> None:
    engine = config.attributes.get("engine")
    if engine is None:  # plain `alembic` command line use
        import sqlalchemy as sa

        engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")
    # SQLite's begin hook would otherwise wrap DDL in BEGIN IMMEDIATE twice; a plain connection is fine.
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite changes a table by copying it to a new one and dropping the old (batch mode):
            # with foreign keys on, dropping a table others refer to fails. SQLite's procedure for
            # it: foreign keys off (outside a transaction, so on the driver's connection), then
            # a foreign_key_check before commit (https://sqlite.org/lang_altertable.html).
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=sqlite)
        try:
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migration left rows that refer to nothing: {broken[:5]}")
            connection.commit()
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


run()
