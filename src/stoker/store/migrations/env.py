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
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run()
