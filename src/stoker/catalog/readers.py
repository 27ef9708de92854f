"""Reading files into frames: through the schema cache, and by extension for join/union."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from stoker.catalog.paths import is_remote
from stoker.catalog.schema_cache import cache_key

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from stoker.catalog.context import StepContext

FORMAT_BY_EXTENSION: dict[str, str] = {
    ".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json", ".parquet": "parquet",
}
# join/union take a bare path, so they read the way people usually write these files.
OPTIONS_BY_FORMAT: dict[str, dict[str, Any]] = {"csv": {"header": True, "inferSchema": True}}

_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")


def read_files(sc: StepContext, fmt: str, path: str, options: dict[str, Any]) -> DataFrame:
    """Read a resolved path. A `schema` option (DDL, e.g. "a INT, b STRING") skips inference;
    otherwise a cached schema does, when the files are unchanged since it was inferred."""
    options = dict(options)
    ddl = options.pop("schema", None)
    paths = sc.roots.expand(path)
    if not paths:
        raise FileNotFoundError(f"no files match {path!r}")
    reader = sc.spark.read.format(fmt)
    if options:
        reader = reader.options(**options)
    if ddl is not None:
        return reader.schema(ddl).load(paths)
    key = cache_key(fmt, paths, options, sc.run.sources)
    cached = sc.schema_cache.get(key) if key is not None else None
    if cached is not None:
        sc.log.debug("step %d: schema cache hit for %s", sc.step, path)
        return reader.schema(cached).load(paths)
    frame = reader.load(paths)
    if key is not None:
        sc.schema_cache.put(key, frame.schema)
    return frame


def read_path_or_table(sc: StepContext, value: str) -> DataFrame:
    """`value` as validation left it: a resolved path, or a bare name. A bare name that exists
    under the storage root is read as a path; otherwise it names a table or view."""
    if not (os.path.isabs(value) or is_remote(value)):
        candidate = os.path.join(sc.roots.storage_root, value)
        if not os.path.exists(candidate):
            return sc.spark.table(value)
        value = sc.roots.resolve(value)
    fmt = format_of(value)
    return read_files(sc, fmt, value, OPTIONS_BY_FORMAT.get(fmt, {}))


def format_of(path: str) -> str:
    ext = os.path.splitext(path.rstrip("/"))[1].lower()
    if ext in FORMAT_BY_EXTENSION:
        return FORMAT_BY_EXTENSION[ext]
    if not is_remote(path) and os.path.isdir(path):
        return "parquet"  # what write_parquet and most tools leave: a directory of part files
    if is_remote(path) and not ext:
        return "parquet"
    raise ValueError(f"cannot tell the format of {path!r}; name it .csv, .json or .parquet, "
                     "or use a directory of parquet files")


def looks_like_table(value: str) -> bool:
    """A bare name such as `people` or `db.people`, which may be a table (decided at run time);
    anything with a slash, a scheme or a file extension is a path."""
    if os.path.splitext(value)[1].lower() in FORMAT_BY_EXTENSION:
        return False
    return bool(_TABLE_NAME.match(value))
