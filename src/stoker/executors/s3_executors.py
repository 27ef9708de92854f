"""The executors' way to S3 (docs/s3.md): for runs whose executors may be on other hosts, the
executor tasks read and write S3 themselves with pyarrow's S3 filesystem (s3tasks.py); the worker
only lists what a read names, checks that an output may be written, and commits.

Both directions are pyspark 4's Python data sources (s3tasks.py), registered on the attempt's own
session, so no jar is needed (mapInArrow would also need pandas on every executor host).
Reads keep Spark's own parsers: CSV and JSON become a dataset of lines (each object cut into
line-aligned ranges, one task each) that Spark's CSV and JSON readers parse, so header,
inferSchema, sep, mode... mean what they mean for files; Parquet comes as Arrow batches in the
schema of its first file's footer. A write: every task writes one part file under the attempt's
temporary prefix (Parquet as it is; CSV and JSON lines as Spark's `to_csv` / `to_json` format
them), Spark's commit lists the parts of the successful task attempts in a manifest; when the
whole pipeline has succeeded the worker copies those parts under the target prefix and writes
`_SUCCESS` last, and the temporary prefix is removed however the attempt ends.

The run's keys reach the executors only inside the pickled task functions: not in the Spark conf,
the plan, the event log or the UI (tests/integration/test_s3_executors.py looks for them).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from stoker.catalog.s3paths import ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, S3Path, endpoint_of, parse_s3_url
from stoker.config import Settings
from stoker.executors import s3tasks
from stoker.executors.base import Execution
from stoker.executors.s3client import S3Failed, explain, s3_client
from stoker.executors.s3objects import (
    check_writable,
    data_files,
    delete,
    existing,
    objects,
    publish,
    source_objects,
    temporary_prefix,
)
from stoker.executors.s3tasks import Access

MB = 1024 * 1024
SPLIT_BYTES = 32 * MB  # a CSV or JSON object is read in line-aligned ranges of this size, one per task
_shipped = False


def ship_by_value() -> None:
    """Pickle s3tasks' functions by value, so executors need not have Stoker installed."""
    global _shipped
    if not _shipped:
        from pyspark import cloudpickle

        cloudpickle.register_pickle_by_value(s3tasks)  # type: ignore[no-untyped-call]
        _shipped = True


def access_of(s3: Mapping[str, Any] | None, *, allow_server: bool, server_endpoint: str | None) -> Access:
    """The executors' access to S3 from a run's options.s3 (as s3client.s3_client decides it)."""
    options = s3 or {}
    if options.get(ACCESS_KEY) and options.get(SECRET_KEY):
        return Access(options[ACCESS_KEY], options[SECRET_KEY], options.get(SESSION_TOKEN) or None,
                      options.get("region") or None, endpoint_of(options))
    if allow_server:  # the executor hosts' own AWS chain
        return Access(region=options.get("region") or None, endpoint_url=endpoint_of(options) or server_endpoint)
    raise S3Failed("the run has no S3 credentials (options.s3) and this server does not lend its own",
                   permanent=True)


@dataclass
class _Pending:
    path: S3Path
    temporary: str
    names: list[str]


class ExecutorS3:
    """One attempt's S3 through its executors: the catalog's RemoteFiles (catalog/context.py).
    Use as a context manager: the temporary prefixes go however the attempt ends."""

    def __init__(self, client: Any, access: Access, paths: list[S3Path], *, attempt_id: str,
                 log: logging.Logger) -> None:
        self.client = client
        self.access = access
        self.outputs = {p.url.uri.rstrip("/"): p for p in paths if p.writes}
        self.attempt_id = attempt_id
        self.log = log
        self.pending: list[_Pending] = []
        self._listed: dict[str, list[dict[str, Any]]] = {}
        self.skipped: set[str] = set()

    def __enter__(self) -> ExecutorS3:
        ship_by_value()
        for path in self.outputs.values():  # fail before any Spark work, as the staged way does
            check_writable(self.client, path)
        return self

    def __exit__(self, *_exc: object) -> None:
        for path in self.outputs.values():
            temporary = temporary_prefix(path, self.attempt_id)
            leftovers = [o["Key"] for o in objects(self.client, path.url.bucket, temporary)]
            delete(self.client, path.url.bucket, leftovers, self.log, quiet=True)

    # -- reads -------------------------------------------------------------------------------
    def _listing(self, url: str) -> list[dict[str, Any]]:
        """The data objects a read of `url` names, listed once per attempt."""
        if url not in self._listed:
            parsed = parse_s3_url(url)
            assert parsed is not None, url
            directory, found = source_objects(self.client, parsed.bucket, parsed.key)
            files = data_files(directory, found) if directory and found[0]["Key"] != parsed.key else found
            if not files:
                raise S3Failed(f"S3 no data files under s3://{parsed.bucket}/{parsed.key}", permanent=True)
            self._listed[url] = [{**o, "Path": f"{parsed.bucket}/{o['Key']}"} for o in files]
        return self._listed[url]

    def identity(self, url: str) -> Hashable:
        return ("s3", url, tuple(sorted((o["Key"], o.get("ETag"), o["Size"]) for o in self._listing(url))))

    def read(self, spark: Any, fmt: str, url: str, options: Mapping[str, Any], schema: Any = None) -> Any:
        sizes = [(o["Path"], int(o["Size"])) for o in self._listing(url)]
        self.log.info("S3 executors: reading %s (%d object(s), %.1f MB) in the executor tasks", url,
                      len(sizes), sum(s for _, s in sizes) / MB)
        if fmt == "parquet":
            return self._read_parquet(spark, sizes, schema)
        whole = str(options.get("multiLine", options.get("multiline", ""))).lower() == "true"
        ranges = s3tasks.line_ranges(sizes, SPLIT_BYTES)
        lines = _load(spark, s3tasks.source(s3tasks.LinesSource, self.access, ranges=ranges, whole=whole))
        return _parse_lines(spark, lines, fmt, options, schema)

    def _read_parquet(self, spark: Any, sizes: list[tuple[str, int]], ddl: Any) -> Any:
        import pyarrow.parquet as pq
        from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

        schema: Any = ddl
        if isinstance(ddl, str):
            from pyspark.sql.types import _parse_datatype_string

            schema = _parse_datatype_string(ddl)
        elif ddl is None:
            try:
                schema = from_arrow_schema(pq.read_schema(sizes[0][0], filesystem=self.access.filesystem()))
            except OSError as exc:
                bucket, _, key = sizes[0][0].partition("/")
                raise S3Failed(f"S3 could not read the Parquet footer of s3://{bucket}/{key}: {exc}",
                               permanent=False) from None
        return _load(spark, s3tasks.source(s3tasks.ParquetSource, self.access, paths=[p for p, _ in sizes],
                                           arrow_schema=to_arrow_schema(schema), spark_schema=schema))

    # -- writes ------------------------------------------------------------------------------
    def write(self, frame: Any, fmt: str, url: str, mode: str, options: Mapping[str, Any]) -> int:
        """Write the frame's parts under the temporary prefix; returns the rows written. The parts
        are published by commit(), once the whole pipeline has succeeded."""
        from pyspark.sql import functions as F

        path = self.outputs[url.rstrip("/")]
        if mode == "ignore" and existing(self.client, path):
            self.log.info("S3 executors: %s exists, mode ignore: nothing written", path.given)
            self.skipped.add(url)
            return 0
        temporary = temporary_prefix(path, self.attempt_id)
        directory = f"{path.url.bucket}/{temporary.rstrip('/')}"
        opts = {k: str(v) for k, v in options.items()}
        header = None
        if fmt == "parquet":
            body = frame
        else:
            record = F.struct(*[frame[c] for c in frame.columns])
            line_options = {k: v for k, v in opts.items() if k.lower() != "header"}
            convert = F.to_csv if fmt == "csv" else F.to_json
            body = frame.select(convert(record, line_options).alias("value"))
            if fmt == "csv" and opts.get("header", "false").lower() == "true":
                header = csv_header(frame.columns, opts.get("sep", opts.get("delimiter", ",")))
        started = time.perf_counter()
        sink = s3tasks.source(s3tasks.PartsSource, self.access, directory=directory, fmt=fmt, header=header)
        session = frame.sparkSession
        session.dataSource.register(sink)
        with _active(session):
            body.write.format(sink.name()).mode("append").save()
        parts = self._manifest(path, temporary)
        names = sorted(p["name"] for p in parts)
        if not names and fmt == "parquet":  # as Spark does: an empty output still has its schema
            names = [self._empty_parquet(frame, directory)]
        self.pending.append(_Pending(path, temporary, names))
        self.log.info("S3 executors: %d part(s), %.1f MB written by the executor tasks under the temporary "
                      "prefix in %.2f s", len(names), sum(p["bytes"] for p in parts) / MB,
                      time.perf_counter() - started)
        return sum(int(p["rows"]) for p in parts)

    def _manifest(self, path: S3Path, temporary: str) -> list[dict[str, Any]]:
        key = temporary + s3tasks.MANIFEST
        try:
            body = self.client.get_object(Bucket=path.url.bucket, Key=key)["Body"].read()
        except Exception as exc:
            raise explain(exc, path.url.bucket, key) from None
        parts: list[dict[str, Any]] = json.loads(body)
        return parts

    def _empty_parquet(self, frame: Any, directory: str) -> str:
        import pyarrow.parquet as pq
        from pyspark.sql.pandas.types import to_arrow_schema

        name = "part-00000-empty.parquet"
        with self.access.filesystem().open_output_stream(f"{directory}/{name}") as out:
            pq.write_table(to_arrow_schema(frame.schema).empty_table(), out)
        return name

    def commit(self) -> None:
        """Publish every write of the pipeline (which has succeeded), `_SUCCESS` last."""
        for pending in self.pending:
            started = time.perf_counter()
            try:
                publish(self.client, pending.path, pending.temporary, pending.names, self.log)
            except S3Failed:
                raise
            except Exception as exc:
                raise explain(exc, pending.path.url.bucket, pending.path.url.key) from None
            self.log.info("S3 executors: published %s (%d file(s)), then _SUCCESS, in %.2f s", pending.path.given,
                          len(pending.names), time.perf_counter() - started)


def run_through_executors(execution: Execution, settings: Settings, paths: list[S3Path],
                          run: Callable[[ExecutorS3], Any]) -> Any:
    """`run(remote)` the pipeline with its S3 read and written by the executors (session mode)."""
    return through_executors(execution.secrets.get("s3"), paths, run, attempt_id=execution.claimed.attempt_id,
                             log=execution.log, allow_server=settings.s3_allow_server_credentials,
                             server_endpoint=settings.s3_endpoint_url)


def through_executors(s3: Mapping[str, Any] | None, paths: list[S3Path], run: Callable[[ExecutorS3], Any], *,
                      attempt_id: str, log: logging.Logger, allow_server: bool, server_endpoint: str | None) -> Any:
    """`run(remote)`, then commit its outputs; the temporary prefixes go however this ends. The
    result names the URL as given. Session mode and the submit-mode driver alike."""
    log.info("S3: executors' way (%d S3 path(s); the executors may not share the worker's disk, so they "
             "read and write S3 themselves)", len(paths))
    client = s3_client(s3, allow_server=allow_server, server_endpoint=server_endpoint)
    access = access_of(s3, allow_server=allow_server, server_endpoint=server_endpoint)
    with ExecutorS3(client, access, paths, attempt_id=attempt_id, log=log) as remote:
        result = run(remote)
        remote.commit()
    if isinstance(result, dict) and isinstance(result.get("path"), str):
        given = {p.url.uri.rstrip("/"): p.given for p in paths if p.writes}
        result = {**result, "path": given.get(result["path"].rstrip("/"), result["path"])}
    return result


def csv_header(columns: list[str], sep: str) -> str:
    """The header line Spark's CSV writer would write (names quoted only when they must be)."""
    out = io.StringIO()
    csv.writer(out, delimiter=sep or ",", lineterminator="").writerow(columns)
    return out.getvalue()


@contextmanager
def _active(spark: Any) -> Iterator[None]:
    """The attempt's session as the JVM's active one (for this thread) while a write runs: Spark
    looks up a Python data source to write to in the active session's registry, and the sink is
    registered on the attempt's session alone."""
    sessions = spark._jvm.org.apache.spark.sql.classic.SparkSession
    before = sessions.getActiveSession()
    sessions.setActiveSession(spark._jsparkSession)
    try:
        yield
    finally:
        if before.isDefined():
            sessions.setActiveSession(before.get())
        else:
            sessions.clearActiveSession()


def _load(spark: Any, source: type[Any]) -> Any:
    spark.dataSource.register(source)
    return spark.read.format(source.name()).load()


def _parse_lines(spark: Any, lines: Any, fmt: str, options: Mapping[str, Any], ddl: Any) -> Any:
    """Spark's own CSV or JSON reader over a dataset of lines (DataFrameReader.csv/json of a
    Dataset[String], which pyspark offers only for RDDs)."""
    from pyspark.sql import DataFrame

    reader = spark._jsparkSession.read()
    for key, value in options.items():
        reader = reader.option(key, _option(value))
    if isinstance(ddl, str):
        reader = reader.schema(ddl)
    elif ddl is not None:  # a StructType (the schema cache's)
        reader = reader.schema(spark._jsparkSession.parseDataType(ddl.json()))
    dataset = getattr(lines._jdf, "as")(spark._jvm.org.apache.spark.sql.Encoders.STRING())  # `as` is Python's
    return DataFrame(reader.csv(dataset) if fmt == "csv" else reader.json(dataset), spark)


def _option(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
