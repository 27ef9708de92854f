"""Actions: the last step, which runs the pipeline and returns its result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stoker.catalog.results import collect_rows
from stoker.catalog.spec import Arg, function

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from stoker.catalog.context import StepContext


@function(kind="action", example=[["range", 1000], ["count"]])
def count(sc: StepContext, frame: DataFrame) -> dict[str, Any]:
    """Count the rows."""
    return {"type": "count", "count": frame.count()}


@function(kind="action", args=[Arg("max_rows", "integer", required=False, minimum=1)],
          example=[["range", 5], ["collect"]])
def collect(sc: StepContext, frame: DataFrame, max_rows: int | None) -> dict[str, Any]:
    """Return the rows (at most max_rows, and never more than the server's limit)."""
    cap = sc.run.max_rows if max_rows is None else min(max_rows, sc.run.max_rows)
    return collect_rows(frame, cap, sc.run.max_bytes)
