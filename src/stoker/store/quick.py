"""Quick reads: the hot endpoints' point reads (a run and its attempts, a run's state) without
SQLAlchemy's per-call machinery, which cost several times what the database takes to answer them
(bench/bench_submit.py, profiled). The statements stay the store's SQLAlchemy selects, compiled
once per dialect; only their execution changes:

* SQLite: a plain sqlite3 connection per thread (`Database.read(quick=True)`), each value through
  its column's result processor, as SQLAlchemy would (JSON decoding, booleans).
* PostgreSQL: psycopg's async connections on the event loop (api/fastpath.py `read_now`), one
  pool per loop (`Database.loop_reads`); a plan of one statement is one query in autocommit, a
  longer one is sent whole (BEGIN, every select, COMMIT) in one pipeline: one round trip.
  psycopg's own loaders give what SQLAlchemy gives (JSON through the same `loads`, booleans,
  double precision as float); tests/integration/test_quick_routes.py compares the two.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

T = TypeVar("T")

Statement = sa.Select[Any]


@dataclass(frozen=True)
class ReadPlan(Generic[T]):
    """A read as data: its statements with their parameters, and how their rows make the answer
    (which may raise, NotFound say). The same plan runs through SQLAlchemy, sqlite3 or psycopg."""

    statements: Sequence[tuple[Statement, dict[str, Any]]]
    assemble: Callable[[list[list[Any]]], T]


class QuickStatement:
    """A select compiled once for a dialect's driver: its SQL, its parameters' order (SQLite's are
    positional) and, on SQLite, its columns' result processors; rows come back as named tuples."""

    def __init__(self, statement: Statement, dialect: sa.Dialect) -> None:
        self.statement = statement
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.parameters = tuple(compiled.positiontup or ())
        columns = list(statement.selected_columns)
        sqlite = dialect.name == "sqlite"
        self.processors: list[Callable[[Any], Any] | None] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) if sqlite else None
            for column in columns]
        self.row: Any = namedtuple("QuickRow", [column.key for column in columns])  # type: ignore[misc]

    def rows(self, raw_rows: list[Any]) -> list[Any]:
        processors, make = self.processors, self.row._make
        if not any(processors):
            return [make(raw_row) for raw_row in raw_rows]
        return [make([value if process is None else process(value)
                      for process, value in zip(processors, raw_row, strict=True)])
                for raw_row in raw_rows]


class QuickResult:
    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def first(self) -> Any:
        return self.rows[0] if self.rows else None

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def __iter__(self) -> Iterator[Any]:
        return iter(self.rows)


class QuickConnection:
    """What a quick SQLite read's `conn.execute(select, params)` runs on."""

    def __init__(self, compile_once: Callable[[Statement], QuickStatement], raw: sqlite3.Connection) -> None:
        self.compile_once = compile_once
        self.raw = raw

    def execute(self, statement: Statement, params: dict[str, Any]) -> QuickResult:
        quick = self.compile_once(statement)
        cursor = self.raw.execute(quick.sql, [params[name] for name in quick.parameters])
        return QuickResult(quick.rows(cursor.fetchall()))


class LoopPool:
    """psycopg async connections for one event loop (pools are bound to the loop that opened them)."""

    def __init__(self, url: str, compile_once: Callable[[Statement], QuickStatement], *, size: int = 8) -> None:
        from psycopg.types.json import set_json_loads
        from psycopg_pool import AsyncConnectionPool

        from stoker.store.db import json_loads

        async def configure(conn: Any) -> None:
            set_json_loads(json_loads, conn)  # as SQLAlchemy's engine decodes JSON columns

        conninfo = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.compile_once = compile_once
        self.pool = AsyncConnectionPool(conninfo, min_size=1, max_size=size, open=False,
                                        kwargs={"autocommit": True}, configure=configure,
                                        name="stoker-loop-reads")

    async def open(self) -> None:
        await self.pool.open(wait=False)  # connects in the background: a database still starting is fine

    async def close(self) -> None:
        await self.pool.close(timeout=5)

    async def read(self, plan: ReadPlan[T]) -> T:
        """The plan in one transaction and one round trip. A database error comes out as
        SQLAlchemy's (the app's handler answers 503 for an unreachable database, as for any read)."""
        import psycopg
        from psycopg_pool import PoolTimeout

        compiled = [(self.compile_once(statement), params) for statement, params in plan.statements]
        try:
            async with self.pool.connection(timeout=10) as conn:
                if len(compiled) == 1:  # one statement is one snapshot: no transaction, no pipeline
                    quick, params = compiled[0]
                    cursors = [await conn.execute(quick.sql, params)]
                else:
                    async with conn.pipeline():
                        await conn.execute("BEGIN READ ONLY")
                        cursors = [await conn.execute(quick.sql, params) for quick, params in compiled]
                        await conn.execute("COMMIT")
                results = [quick.rows(await cursor.fetchall())
                           for (quick, _params), cursor in zip(compiled, cursors, strict=True)]
        except psycopg.Error as exc:
            raise sa.exc.DBAPIError.instance(compiled[0][0].sql if compiled else None, None, exc,
                                             psycopg.Error) from exc
        except PoolTimeout as exc:
            raise sa.exc.OperationalError(None, None, exc) from exc
        return plan.assemble(results)
