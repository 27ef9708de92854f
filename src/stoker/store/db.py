"""Database handle: engines, transactions, migrations.

SQLite runs in WAL mode and every write transaction starts with BEGIN IMMEDIATE, so a transaction
holds the write lock from its first statement: the claim, finish and reap transactions are then
serialised exactly as PostgreSQL's row locks serialise them. Reads use a second engine with plain
(deferred) transactions so they never wait for a writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from stoker.store.quick import LoopPool, QuickConnection, QuickStatement, ReadPlan, T

if TYPE_CHECKING:
    from alembic.config import Config


def _json_dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def json_loads(stored: str | bytes | int | float) -> Any:
    """SQLite gives a JSON column NUMERIC affinity: a stored bare number (a Sate payload of 42)
    comes back as that number, not as its text."""
    if isinstance(stored, int | float):
        return stored
    return orjson.loads(stored)


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.url.startswith("postgresql://"):
            self.url = "postgresql+psycopg://" + self.url[len("postgresql://"):]
        if self.is_sqlite:
            path = sa.engine.make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.writer = self._sqlite_engine(immediate=True)
            self.reader = self._sqlite_engine(immediate=False)
            self._write_lock: threading.Lock | None = threading.Lock()
            # In-memory databases are one per connection: quick reads need the file.
            self._sqlite_path = path if path and path != ":memory:" else None
        else:
            self.writer = sa.create_engine(
                self.url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True,
                json_serializer=_json_dumps, json_deserializer=json_loads,
            )
            self.reader = self.writer
            self._write_lock = None
            self._sqlite_path = None
        # Quick reads (`read(quick=True)`): a plain sqlite3 connection per thread, and each
        # statement compiled once.
        self._quick_local = threading.local()
        self._quick_connections: list[sqlite3.Connection] = []
        self._quick_statements: dict[int, QuickStatement] = {}
        # PostgreSQL reads on an event loop: a psycopg pool per loop, open while its app runs.
        self._loop_pools: dict[asyncio.AbstractEventLoop, LoopPool] = {}

    def _sqlite_engine(self, *, immediate: bool) -> Engine:
        engine = sa.create_engine(
            self.url, json_serializer=_json_dumps, json_deserializer=json_loads,
            connect_args={"timeout": 30, "check_same_thread": False}, pool_size=8, max_overflow=16,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" hook issues BEGIN itself
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed on exit, rolled back on error."""
        if self._write_lock is None:
            with self.writer.begin() as conn:
                yield conn
            return
        # SQLite takes one writer at a time. Threads of this process queue here, handing the lock
        # over at once, instead of in SQLite's busy handler, which sleeps (1, 2, 5, 10… ms) between
        # tries. Other processes still meet the busy handler.
        with self._write_lock, self.writer.begin() as conn:
            yield conn

    def ping(self) -> None:
        """One round trip to the database; raises when it does not answer."""
        with self.reader.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    @contextlib.contextmanager
    def read(self, *, quick: bool = False) -> Iterator[Connection]:
        """One read transaction. `quick` (SQLite, point reads of the hot endpoints): through
        SQLite's own driver instead of SQLAlchemy's connection, transaction and result machinery,
        which cost several times what SQLite takes to answer (bench/bench_submit.py, profiled);
        the statements are the same SQLAlchemy ones, compiled once (QuickConnection)."""
        if quick and self._sqlite_path is not None:
            raw = self._quick_connection()
            if raw.in_transaction:  # a COMMIT that failed (the thread's connection outlives it)
                raw.execute("ROLLBACK")
            raw.execute("BEGIN")  # run and attempts from one snapshot
            try:
                yield QuickConnection(self.quick_statement, raw)  # type: ignore[misc]  # the subset of Connection reads use
            finally:
                raw.execute("COMMIT")
            return
        with self.reader.connect() as conn, conn.begin():
            yield conn

    def _quick_connection(self) -> sqlite3.Connection:
        raw: sqlite3.Connection | None = getattr(self._quick_local, "connection", None)
        if raw is None:
            raw = sqlite3.connect(self._sqlite_path or "", timeout=30, isolation_level=None,
                                  check_same_thread=False)  # closed by dispose, from another thread
            raw.execute("PRAGMA query_only=ON")
            self._quick_local.connection = raw
            self._quick_connections.append(raw)
        return raw

    def quick_statement(self, statement: sa.Select) -> QuickStatement:  # type: ignore[type-arg]
        found = self._quick_statements.get(id(statement))
        if found is None or found.statement is not statement:
            found = self._quick_statements[id(statement)] = QuickStatement(statement, self.reader.dialect)
        return found

    def read_plan(self, plan: ReadPlan[T], *, quick: bool = False) -> T:
        """Run a read plan's statements in one read transaction and assemble its answer."""
        with self.read(quick=quick) as conn:
            return plan.assemble([list(conn.execute(statement, params)) for statement, params in plan.statements])

    @contextlib.asynccontextmanager
    async def loop_reads(self) -> AsyncIterator[None]:
        """While open (an app's lifespan), PostgreSQL read plans run on this event loop through
        psycopg's async connections (`loop_pool`, used by api/fastpath.py `read_now`), not in the
        thread pool."""
        if self.is_sqlite:
            yield
            return
        loop = asyncio.get_running_loop()
        pool = LoopPool(self.url, self.quick_statement)
        await pool.open()
        self._loop_pools[loop] = pool
        try:
            yield
        finally:
            self._loop_pools.pop(loop, None)
            await pool.close()

    def loop_pool(self) -> LoopPool | None:
        """This event loop's PostgreSQL pool, when `loop_reads` is open on it."""
        try:
            return self._loop_pools.get(asyncio.get_running_loop())
        except RuntimeError:  # no running loop
            return None

    def upgrade(self) -> None:
        """Bring the schema to the newest revision (alembic upgrade head), first putting a database
        of the old branching history on the line (store/migration_history.py)."""
        from alembic import command

        from stoker.store.migration_history import straighten

        config = self.alembic_config()
        straighten(config, self.writer)
        command.upgrade(config, "head")

    def alembic_config(self) -> Config:
        from alembic.config import Config

        here = Path(__file__).parent
        cfg = Config()
        cfg.set_main_option("script_location", str(here / "migrations"))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        cfg.attributes["engine"] = self.writer
        return cfg

    def dispose(self) -> None:
        for raw in self._quick_connections:
            raw.close()
        self._quick_connections.clear()
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def insert_unless_exists(conn: Connection, table: sa.Table, values: dict[str, Any],
                         unique: list[str]) -> postgresql.Insert | sqlite.Insert:
    """INSERT … ON CONFLICT (unique columns) DO NOTHING, in the dialect's spelling (SQLite and
    PostgreSQL both have it): of racing inserts of one key, exactly one writes and none fails."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    return insert(table).values(**values).on_conflict_do_nothing(index_elements=unique)
