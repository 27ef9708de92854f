"""What runs inside the executor tasks of the executors' way to S3 (docs/s3.md): pyspark 4's
Python data sources (pyspark.sql.datasource) that read an object's lines or Parquet batches and
write a task's part file under the attempt's temporary prefix, with pyarrow's S3 filesystem.

This module is shipped to the executors by value (cloudpickle.register_pickle_by_value in
s3_executors.py), so executors on other hosts need pyspark and pyarrow, not Stoker: it imports
only the standard library, pyarrow and pyspark. The run's credentials travel inside the pickled
data source class (never in the Spark conf, an option, the plan or an event); `Access` keeps
them out of reprs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pyspark.sql.datasource import (
    DataSource,
    DataSourceArrowWriter,
    DataSourceReader,
    InputPartition,
    WriterCommitMessage,
)

CHUNK = 8 * 1024 * 1024  # bytes read from S3 at a time


@dataclass(frozen=True)
class Access:
    """How an executor reaches S3: the run's keys (or none: the executor host's own AWS chain),
    region and endpoint. repr() shows no key."""

    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str | None = None
    endpoint_url: str | None = None

    def filesystem(self) -> Any:
        from pyarrow import fs

        kwargs: dict[str, Any] = {"region": self.region or "us-east-1",
                                  "retry_strategy": fs.AwsStandardS3RetryStrategy(max_attempts=6),
                                  "connect_timeout": 5, "request_timeout": 60}
        if self.access_key:
            kwargs.update(access_key=self.access_key, secret_key=self.secret_key,
                          session_token=self.session_token or None)
        if self.endpoint_url:
            parts = urlsplit(self.endpoint_url)
            kwargs.update(endpoint_override=parts.netloc, scheme=parts.scheme or "https")
        return fs.S3FileSystem(**kwargs)


def line_ranges(sizes: list[tuple[str, int]], split_bytes: int) -> list[tuple[str, int, int]]:
    """(path, start, end) byte ranges of at most `split_bytes` covering every object; a task
    reads the lines that start inside its range (see lines_of)."""
    ranges = []
    for path, size in sizes:
        start = 0
        while start < size:
            ranges.append((path, start, min(size, start + split_bytes)))
            start += split_bytes
        if size == 0:
            ranges.append((path, 0, 0))
    return ranges


def lines_of(handle: Any, start: int, end: int, chunk: int = CHUNK) -> Iterator[bytes]:
    """Blocks of whole lines (newline-terminated, but for the object's last) whose first byte lies
    in [start, end): the line that straddles `start` belongs to the range before, the one that
    straddles `end` to this one, so ranges cut anywhere read every line exactly once."""
    if start >= end:
        return
    if start > 0:
        handle.seek(start - 1)
        buf = b""
        while True:  # skip to just past the first newline at or after start - 1
            data = handle.read(chunk)
            if not data:
                return
            cut = data.find(b"\n")
            if cut >= 0:
                pos = handle.tell() - len(data) + cut + 1
                buf = data[cut + 1:]
                break
    else:
        handle.seek(0)
        pos, buf = 0, b""
    while pos < end:  # pos: the offset of buf[0], always a line's first byte
        last = buf.rfind(b"\n")
        if last >= 0 and pos + last + 1 > end:  # the block crosses the end: stop after its line
            yield buf[:buf.find(b"\n", end - pos - 1) + 1]
            return
        if last >= 0:
            yield buf[:last + 1]
            pos, buf = pos + last + 1, buf[last + 1:]
        data = handle.read(chunk)
        if not data:
            if buf:
                yield buf
            return
        buf += data


def _text_batch(block: bytes) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    lines = block.decode("utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return pa.RecordBatch.from_arrays([pc.utf8_rtrim(pa.array(lines, pa.string()), characters="\r")],
                                      names=["value"])


def _read_lines(access: Access, path: str, start: int, end: int, whole: bool) -> Iterator[Any]:
    import pyarrow as pa

    s3 = access.filesystem()
    if whole:  # each object as one value (multiLine JSON): read by the task of its first range
        if start == 0:
            with s3.open_input_stream(path) as stream:
                text = stream.read().decode("utf-8", errors="replace")
            yield pa.RecordBatch.from_arrays([pa.array([text], pa.string())], names=["value"])
        return
    with s3.open_input_file(path) as handle:
        for block in lines_of(handle, start, end):
            yield _text_batch(block)


def _read_parquet(access: Access, path: str, schema: Any) -> Iterator[Any]:
    import pyarrow.parquet as pq

    with access.filesystem().open_input_file(path) as handle:
        for part in pq.ParquetFile(handle).iter_batches(columns=schema.names):
            yield part if part.schema.equals(schema) else part.cast(schema)


class _Source(DataSource):
    """A data source made for one read or write of one attempt (source()): what it reads or
    writes, and the access, are attributes of its class, so nothing passes through options."""

    source_name = "stoker_s3"
    access: Access

    @classmethod
    def name(cls) -> str:
        return cls.source_name


class LinesSource(_Source):
    """Reads (path, start, end) ranges of text objects as `value` lines, one partition each."""

    ranges: list[tuple[str, int, int]]
    whole = False

    def schema(self) -> str:
        return "value string"

    def reader(self, schema: Any) -> DataSourceReader:
        return _LinesReader(self.access, self.ranges, self.whole)


class _LinesReader(DataSourceReader):
    def __init__(self, access: Access, ranges: list[tuple[str, int, int]], whole: bool) -> None:
        self.access, self.ranges, self.whole = access, ranges, whole

    def partitions(self) -> list[InputPartition]:
        return [InputPartition(r) for r in self.ranges]

    def read(self, partition: InputPartition) -> Iterator[Any]:
        path, start, end = partition.value
        yield from _read_lines(self.access, path, start, end, self.whole)


class ParquetSource(_Source):
    """Reads Parquet objects (one partition each) as `arrow_schema`."""

    paths: list[str]
    arrow_schema: Any
    spark_schema: Any

    def schema(self) -> Any:
        return self.spark_schema

    def reader(self, schema: Any) -> DataSourceReader:
        return _ParquetReader(self.access, self.paths, self.arrow_schema)


class _ParquetReader(DataSourceReader):
    def __init__(self, access: Access, paths: list[str], arrow_schema: Any) -> None:
        self.access, self.paths, self.arrow_schema = access, paths, arrow_schema

    def partitions(self) -> list[InputPartition]:
        return [InputPartition(p) for p in self.paths]

    def read(self, partition: InputPartition) -> Iterator[Any]:
        yield from _read_parquet(self.access, partition.value, self.arrow_schema)


@dataclass
class Part(WriterCommitMessage):
    name: str | None
    rows: int
    bytes: int


MANIFEST = "_stoker_manifest.json"  # written by the commit: the parts of the tasks that succeeded


class PartsSource(_Source):
    """Writes one part file per task under `directory` (bucket/temporary prefix): Parquet batches as
    they are, or text lines (column `value`) with `header` first. Spark's commit (on the driver's
    host) lists the parts of the task attempts that succeeded in MANIFEST; a failed or duplicate
    attempt's part is never listed, so never published, and the worker removes the prefix."""

    directory: str
    fmt: str
    header: str | None = None

    def writer(self, schema: Any, overwrite: bool) -> DataSourceArrowWriter:
        return _PartsWriter(self.access, self.directory, self.fmt, self.header)


class _PartsWriter(DataSourceArrowWriter):
    def __init__(self, access: Access, directory: str, fmt: str, header: str | None) -> None:
        self.access, self.directory, self.fmt, self.header = access, directory, fmt, header

    def write(self, iterator: Iterator[Any]) -> Part:
        return write_part(self.access, self.directory, self.fmt, self.header, iterator)

    def commit(self, messages: list[Any]) -> None:
        parts = [{"name": m.name, "rows": m.rows, "bytes": m.bytes} for m in messages
                 if isinstance(m, Part) and m.name]
        with self.access.filesystem().open_output_stream(f"{self.directory}/{MANIFEST}") as out:
            out.write(json.dumps(parts).encode())

    def abort(self, messages: list[Any]) -> None:
        pass  # nothing was published; the worker removes the temporary prefix


def source(base: type[_Source], access: Access, **attributes: Any) -> type[_Source]:
    """A subclass of `base` for one read or write, under a name of its own (registered on the
    attempt's own session only)."""
    name = f"stoker_s3_{uuid.uuid4().hex[:12]}"
    return type(f"StokerS3{base.__name__}", (base,), {"source_name": name, "access": access, **attributes})


def write_part(access: Access, directory: str, fmt: str, header: str | None, batches: Iterator[Any]) -> Part:
    """Write a task's batches as one part file under `directory`; a task with no rows writes none."""
    import pyarrow.parquet as pq

    batches = iter(batches)
    first = next((b for b in batches if b.num_rows), None)
    if first is None:
        return Part(None, 0, 0)
    suffix = ".parquet" if fmt == "parquet" else f".{fmt}"
    name = f"part-{uuid.uuid4().hex}{suffix}"
    rows = 0
    with access.filesystem().open_output_stream(f"{directory}/{name}") as out:
        if fmt == "parquet":
            with pq.ParquetWriter(out, first.schema, compression="snappy") as writer:
                for batch in _chain(first, batches):
                    writer.write_batch(batch)
                    rows += batch.num_rows
        else:
            if header is not None:
                out.write((header + "\n").encode())
            for batch in _chain(first, batches):
                values = batch.column(0).to_pylist()
                if values:
                    out.write(("\n".join(values) + "\n").encode())
                rows += batch.num_rows
        size = out.tell()
    return Part(name, rows, size)


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
