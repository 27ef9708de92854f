"""Sources: functions that start a frame."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stoker.catalog.functions._checks import options_check
from stoker.catalog.spec import Arg, function
from stoker.catalog.sqlguard import jvm_statement_problem

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from stoker.catalog.context import StepContext

# Below this many rows, range() is one partition even when the rest of the input is unknown.
SMALL_RANGE = 1_000_000


@function(kind="source", args=[Arg("n", "integer", minimum=0)],
          example=[["range", 5], ["collect"]])
def range_(sc: StepContext, frame: None, n: int) -> DataFrame:
    """Rows with one column `id` from 0 to n-1."""
    partitions = 1 if sc.small or n < SMALL_RANGE else None
    return sc.spark.range(0, n, 1, partitions)


@function(kind="source",
          args=[Arg("path", "string", path="path"),
                Arg("options", "object", required=False, values="scalar")],
          check=options_check(1),
          example=[["read_csv", "people.csv", {"header": True, "inferSchema": True}], ["count"]])
def read_csv(sc: StepContext, frame: None, path: str, options: dict[str, Any] | None) -> DataFrame:
    """Read CSV files; options go to Spark's CSV reader (header, inferSchema, sep, schema, ...)."""
    return sc.read("csv", path, options)


@function(kind="source",
          args=[Arg("path", "string", path="path"),
                Arg("options", "object", required=False, values="scalar")],
          check=options_check(1),
          example=[["read_json", "events.json"], ["count"]])
def read_json(sc: StepContext, frame: None, path: str, options: dict[str, Any] | None) -> DataFrame:
    """Read JSON lines files; options go to Spark's JSON reader (multiLine, schema, ...)."""
    return sc.read("json", path, options)


@function(kind="source",
          args=[Arg("path", "string", path="path"),
                Arg("options", "object", required=False, values="scalar")],
          check=options_check(1),
          example=[["read_parquet", "events.parquet"], ["count"]])
def read_parquet(sc: StepContext, frame: None, path: str, options: dict[str, Any] | None) -> DataFrame:
    """Read Parquet files or a directory of them; options go to Spark's Parquet reader."""
    return sc.read("parquet", path, options)


@function(kind="source", frame="optional", args=[Arg("query", "string", sql="query")],
          example=[["read_csv", "people.csv", {"header": True, "inferSchema": True}],
                   ["sql", "SELECT city, count(*) AS n FROM input GROUP BY city"], ["collect"]])
def sql(sc: StepContext, frame: DataFrame | None, query: str) -> DataFrame:
    """Run a read-only SQL query; the frame so far, if any, is the view `input`."""
    spark = sc.spark
    problem = jvm_statement_problem(spark, query)
    if problem:
        # Validation refuses these at submit time; reaching here means the two checks disagree.
        raise ValueError(problem)
    if frame is None:
        return sc.shape(spark.sql(query))
    frame.createOrReplaceTempView("input")
    return spark.sql(query)
