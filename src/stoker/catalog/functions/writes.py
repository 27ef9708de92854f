"""Writes: the last step, which stores the frame under the storage roots (or on S3)."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from stoker.catalog.functions._checks import options_check
from stoker.catalog.paths import is_remote
from stoker.catalog.spec import Arg, FunctionSpec, function

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Observation

    from stoker.catalog.context import StepContext

WRITE_MODES: tuple[str, ...] = ("errorifexists", "overwrite", "append", "ignore")
_PEOPLE = ["read_csv", "people.csv", {"header": True, "inferSchema": True}]


def write(sc: StepContext, frame: DataFrame, fmt: str, path: str, mode: str,
          options: dict[str, Any] | None) -> dict[str, Any]:
    """Write, counting rows as they are written (an observed metric) instead of a second pass."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    opts: dict[str, Any] = {"header": True} if fmt == "csv" else {}
    opts.update(options or {})
    if sc.run.remote is not None and is_remote(path):
        rows = sc.run.remote.write(frame, fmt, path, mode, opts)
        return {"type": "write", "format": fmt, "path": path, "rows": rows}
    observation = Observation(f"stoker_write_{uuid.uuid4().hex}")
    observed = frame.observe(observation, F.count(F.lit(1)).alias("rows"))
    writer = observed.write.mode(mode)
    if opts:
        writer = writer.options(**opts)
    writer.format(fmt).save(path)
    return {"type": "write", "format": fmt, "path": path, "rows": _observed_rows(observation)}


def _observed_rows(observation: Observation, wait: float = 2.0) -> int:
    """Rows the write saw. Metrics arrive as the write's query ends; a write that did nothing
    (mode "ignore" on an existing path) reports none, and counts as 0 rows."""
    future = observation._jo.future()  # type: ignore[union-attr]
    deadline = time.monotonic() + wait
    while not future.isCompleted():
        if time.monotonic() > deadline:
            return 0
        time.sleep(0.01)
    return int(observation.get.get("rows", 0) or 0)


def _writer(fmt: str, doc: str, example_path: str) -> FunctionSpec:
    def impl(sc: StepContext, frame: DataFrame, path: str, mode: str,
             options: dict[str, Any] | None) -> dict[str, Any]:
        return write(sc, frame, fmt, path, mode, options)

    impl.__name__ = f"write_{fmt}"
    return function(
        kind="write",
        args=[Arg("path", "string", path="output"),
              Arg("mode", "string", required=False, default="errorifexists", choices=WRITE_MODES),
              Arg("options", "object", required=False, values="scalar")],
        check=options_check(2), doc=doc,
        example=[_PEOPLE, ["filter", "age > 30"], [f"write_{fmt}", example_path, "overwrite"]],
    )(impl)


write_csv = _writer("csv", "Write CSV files with a header into a directory; mode: errorifexists "
                           "(default), overwrite, append or ignore.", "out/adults.csv")
write_json = _writer("json", "Write JSON lines files into a directory; mode: errorifexists "
                             "(default), overwrite, append or ignore.", "out/adults.json")
write_parquet = _writer("parquet", "Write Parquet files into a directory; mode: errorifexists "
                                   "(default), overwrite, append or ignore.", "out/adults.parquet")
