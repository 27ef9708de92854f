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
    remote = sc.run.remote if is_remote(path) and not sc.explaining else None
    sources = sc.run.sources
    if remote is not None:  # the executors read S3 (docs/s3.md); the objects' identity keys the cache
        sources = {**sources, path: remote.identity(path)}

        def load(schema: Any = None) -> DataFrame:
            frame: DataFrame = remote.read(sc.spark, fmt, path, options, schema)
            return frame
    else:
        reader = sc.spark.read.format(fmt)
        if options:
            reader = reader.options(**options)

        def load(schema: Any = None) -> DataFrame:
            return (reader.schema(schema) if schema is not None else reader).load(paths)
    if ddl is not None:
        sc.note_schema("the schema option")
        return load(ddl)
    key = cache_key(fmt, paths, options, sources)
    cached = sc.schema_cache.get(key) if key is not None else None
    if cached is not None:
        sc.log.debug("step %d: schema cache hit for %s", sc.step, path)
        sc.note_schema("the schema cache (an earlier run's read of the same files)")
        return load(cached)
    if sc.explaining:
        schema, how = explain_schema(fmt, paths, options)
        sc.note_schema(how)
        return load(schema)
    frame = load()
    if key is not None:
        sc.schema_cache.put(key, frame.schema)
    return frame


SAMPLE_BYTES = 1 << 20  # what an explanation reads of a CSV or JSON file not seen yet


class SchemaUnknown(Exception):
    """An input whose schema cannot be known without reading it all (an S3 object not seen yet)."""


def explain_schema(fmt: str, paths: list[str], options: dict[str, Any]) -> tuple[Any, str]:
    """(a Spark schema or None, where it comes from) for explaining a read without a pass over the
    data. None: Spark's own read is cheap enough (Parquet footers; a CSV's header line when types
    are not inferred)."""
    if any(is_remote(p) for p in paths):
        raise SchemaUnknown("an S3 input not read by a run yet: its schema is known once a run has read it")
    opts = {k.lower(): v for k, v in options.items()}
    if fmt == "parquet":
        return None, "the Parquet footers"
    if fmt == "csv" and not _truthy(opts.get("inferschema")):
        return None, "the CSV header line (every column a string)"
    if fmt not in ("csv", "json") or _truthy(opts.get("multiline")):
        return None, "Spark's inference"
    first = _first_file(paths)
    if first is None:
        return None, "Spark's inference"
    with open(first, "rb") as handle:
        sample = handle.read(SAMPLE_BYTES)
    if len(sample) == SAMPLE_BYTES:
        sample = sample[:sample.rfind(b"\n") + 1]  # whole lines only
    from pyspark.sql.pandas.types import from_arrow_schema

    if fmt == "csv":
        import pyarrow.csv as pacsv

        header = _truthy(opts.get("header"))
        sep = str(opts.get("sep") or opts.get("delimiter") or ",")
        table = pacsv.read_csv(pa_buffer(sample), read_options=pacsv.ReadOptions(autogenerate_column_names=not header),
                               parse_options=pacsv.ParseOptions(delimiter=sep))
        if not header:  # Spark's names for headerless columns
            table = table.rename_columns([f"_c{i}" for i in range(table.num_columns)])
    else:
        import pyarrow.json as pajson

        table = pajson.read_json(pa_buffer(sample))
    return from_arrow_schema(table.schema), f"a sample of {os.path.basename(first)} (its first MiB, read with pyarrow)"


def pa_buffer(data: bytes) -> Any:
    import pyarrow as pa

    return pa.BufferReader(data)


def _first_file(paths: list[str]) -> str | None:
    for path in paths:
        if os.path.isfile(path):
            return path
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            visible = sorted(f for f in filenames if not f.startswith((".", "_")))
            if visible:
                return os.path.join(dirpath, visible[0])
    return None


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


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
