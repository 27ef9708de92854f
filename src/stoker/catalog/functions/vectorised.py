"""Vectorised functions: pandas code run on Arrow batches in the executors' Python workers (Spark's
pandas functions), for what SQL expresses badly. The code is Stoker's, never the caller's: a pipeline
names the function and its columns, nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from stoker.catalog.functions._checks import names_check
from stoker.catalog.spec import Arg, function

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from stoker.catalog.context import StepContext

_NUMERIC = ("tinyint", "smallint", "int", "bigint", "float", "double")


def _zscore_check(values: list[Any]) -> Iterator[str]:
    yield from names_check(0)(values)
    yield from names_check(1, "group column")(values)
    if values[0] in values[1]:
        yield f"column {values[0]!r} cannot be both the one standardised and a group column"


@function(kind="transform", args=[Arg("col", "string"), Arg("by", "string", variadic=True)],
          check=_zscore_check,
          example=[["read_csv", "people.csv", {"header": True, "inferSchema": True}],
                   ["zscore", "age", "city"], ["filter", "abs(age_z) > 2"], ["collect"]])
def zscore(sc: StepContext, frame: DataFrame, col: str, by: list[str]) -> DataFrame:
    """Add <col>_z: (value − group mean) ÷ group standard deviation per group of `by`, by a pandas function."""
    from pyspark.sql.types import DoubleType, StructField, StructType

    types = dict(frame.dtypes)
    if col not in types:
        raise ValueError(f"no column {col!r} to standardise; columns are {', '.join(frame.columns)}")
    if not types[col].startswith(("decimal", *_NUMERIC)):
        raise ValueError(f"column {col!r} is {types[col]}, not a number")
    missing = [c for c in by if c not in types]
    if missing:
        raise ValueError(f"no group column {', '.join(map(repr, missing))}; columns are {', '.join(frame.columns)}")
    out = f"{col}_z"
    if out in types:
        raise ValueError(f"column {out!r} exists already; rename it first")
    schema = StructType([*frame.schema.fields, StructField(out, DoubleType())])

    # A pandas DataFrame in, the same with `out` added. No type hints: Spark reads a pandas
    # function's hints to decide what kind of function it is.
    def standardise(group):  # type: ignore[no-untyped-def]
        values = group[col].astype("float64")
        spread = values.std(ddof=0)
        # one row, or all equal: no spread, every value is the mean
        group[out] = (values - values.mean()) / spread if spread > 0 else values * 0.0
        return group

    return frame.groupBy(*by).applyInPandas(standardise, schema)
