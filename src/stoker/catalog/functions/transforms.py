"""Transforms: functions that take the frame and return a new one (lazily: Spark runs nothing
until an action, but analysis is eager, so a bad column name fails at its own step)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from stoker.catalog.functions._checks import names_check
from stoker.catalog.spec import Arg, function

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from stoker.catalog.context import StepContext

JOIN_TYPES: tuple[str, ...] = ("inner", "left", "right", "full", "outer", "left_outer", "right_outer",
                               "full_outer", "left_semi", "semi", "left_anti", "anti", "cross")
# Storage levels a cached frame may take (pyspark.StorageLevel names); the replicated ones are left
# out: a pipeline's cache lives for one run, where losing an executor recomputes it anyway.
STORAGE_LEVELS: tuple[str, ...] = ("MEMORY_AND_DISK", "MEMORY_AND_DISK_DESER", "MEMORY_ONLY", "DISK_ONLY")
_PEOPLE = ["read_csv", "people.csv", {"header": True, "inferSchema": True}]


@function(kind="transform", args=[Arg("col", "string", variadic=True, sql="expression")],
          check=names_check(0, "column"),
          example=[_PEOPLE, ["select", "name", "age * 2 AS double_age"], ["collect"]])
def select(sc: StepContext, frame: DataFrame, cols: list[str]) -> DataFrame:
    """Keep these columns, or SQL expressions ("age * 2 AS double_age")."""
    return frame.selectExpr(*cols)


@function(kind="transform", args=[Arg("condition", "string", sql="expression")],
          check=names_check(0, "condition"),
          example=[_PEOPLE, ["filter", "age > 30"], ["count"]])
def filter_(sc: StepContext, frame: DataFrame, condition: str) -> DataFrame:
    """Keep the rows where a SQL condition holds."""
    return frame.filter(condition)


@function(kind="transform",
          args=[Arg("name", "string"), Arg("expr", "string", sql="expression")],
          check=names_check(0),
          example=[_PEOPLE, ["with_column", "decade", "floor(age / 10) * 10"], ["collect"]])
def with_column(sc: StepContext, frame: DataFrame, name: str, expr: str) -> DataFrame:
    """Add or replace a column computed by a SQL expression."""
    from pyspark.sql import functions as F

    return frame.withColumn(name, F.expr(expr))


@function(kind="transform", args=[Arg("col", "string", variadic=True)],
          example=[_PEOPLE, ["drop", "salary"], ["collect"]])
def drop(sc: StepContext, frame: DataFrame, cols: list[str]) -> DataFrame:
    """Remove these columns (names that do not exist are ignored)."""
    return frame.drop(*cols)


@function(kind="transform", args=[Arg("old", "string"), Arg("new", "string")],
          check=names_check(1),
          example=[_PEOPLE, ["rename", "city", "town"], ["collect"]])
def rename(sc: StepContext, frame: DataFrame, old: str, new: str) -> DataFrame:
    """Rename a column."""
    if old not in frame.columns:
        # Spark would silently do nothing, which hides typos.
        raise ValueError(f"no column {old!r} to rename; columns are {', '.join(frame.columns)}")
    return frame.withColumnRenamed(old, new)


@function(kind="transform", example=[_PEOPLE, ["select", "city"], ["distinct"], ["collect"]])
def distinct(sc: StepContext, frame: DataFrame) -> DataFrame:
    """Drop duplicate rows."""
    return frame.distinct()


def _sort_check(values: list[Any]) -> Iterator[str]:
    for col in values[0]:
        if not col.lstrip("-").strip():
            yield f"sort column {col!r} is empty; use a name, or -name for descending"


@function(kind="transform", args=[Arg("col", "string", variadic=True)], check=_sort_check,
          example=[_PEOPLE, ["sort", "city", "-age"], ["limit", 10], ["collect"]])
def sort(sc: StepContext, frame: DataFrame, cols: list[str]) -> DataFrame:
    """Order rows by these columns; a leading - sorts that column descending."""
    from pyspark.sql import functions as F

    order = [F.col(c[1:]).desc() if c.startswith("-") else F.col(c).asc() for c in cols]
    return frame.orderBy(*order)


@function(kind="transform", args=[Arg("n", "integer", minimum=0)],
          example=[_PEOPLE, ["limit", 10], ["collect"]])
def limit(sc: StepContext, frame: DataFrame, n: int) -> DataFrame:
    """Keep the first n rows."""
    return frame.limit(n)


def _group_by_check(values: list[Any]) -> Iterator[str]:
    cols, aggs = values
    if any(not c.strip() for c in cols):
        yield "a group_by column name must not be empty"
    if not aggs:
        yield 'group_by needs at least one aggregate, e.g. {"n": "count(*)"}'
    if any(not name.strip() for name in aggs):
        yield "an aggregate's output name must not be empty"


@function(kind="transform",
          args=[Arg("cols", "string[]"), Arg("aggs", "object", values="string", sql="expression")],
          check=_group_by_check,
          example=[_PEOPLE, ["group_by", ["city"], {"n": "count(*)", "avg_age": "avg(age)"}], ["collect"]])
def group_by(sc: StepContext, frame: DataFrame, cols: list[str], aggs: dict[str, str]) -> DataFrame:
    """Group by columns (none: the whole frame) and compute named SQL aggregates."""
    from pyspark.sql import functions as F

    return frame.groupBy(*cols).agg(*[F.expr(expr).alias(name) for name, expr in aggs.items()])


@function(kind="transform",
          args=[Arg("other", "string", path="path_or_table"), Arg("on", "string|string[]"),
                Arg("how", "string", required=False, default="inner", choices=JOIN_TYPES)],
          check=names_check(1),
          example=[_PEOPLE, ["join", "cities.csv", "city", "left"], ["collect"]])
def join(sc: StepContext, frame: DataFrame, other: str, on: str | list[str], how: str) -> DataFrame:
    """Join with a file (.csv/.json/.parquet, or a directory of parquet) or a table, on columns."""
    right = sc.read_path_or_table(other)
    return frame.join(right, on=[on] if isinstance(on, str) else on, how=how)


@function(kind="transform", args=[Arg("other", "string", path="path_or_table")],
          example=[_PEOPLE, ["union", "more_people.csv"], ["count"]])
def union(sc: StepContext, frame: DataFrame, other: str) -> DataFrame:
    """Append the rows of a file or table, matching columns by name."""
    combined = frame.unionByName(sc.read_path_or_table(other))
    # A union's partitioning is unknown to Spark even when both sides have one partition.
    return sc.shape(combined)


@function(kind="transform",
          args=[Arg("level", "string", required=False, default="MEMORY_AND_DISK", choices=STORAGE_LEVELS)],
          example=[_PEOPLE, ["cache"], ["sql", "SELECT a.city, count(*) AS pairs FROM input a JOIN input b "
                                                "ON a.city = b.city GROUP BY a.city"], ["collect"]])
def cache(sc: StepContext, frame: DataFrame, level: str) -> DataFrame:
    """Keep the frame in executor memory (or on disk: level) for the steps that read it more than once."""
    return sc.persist(frame, level)
