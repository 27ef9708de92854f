"""The schema and first rows of a CSV, JSON lines or Parquet file, or of a directory of them (a
Spark output), read with pyarrow: milliseconds, no Spark. Every byte read from disk is counted,
and reading stops at `max_bytes`: a CSV or JSON file is read only up to that many bytes (the last,
cut line dropped); a Parquet file's footer and the pages of its first rows are read through a
counting reader that refuses to go further, so the schema is shown even when the rows would cost
more than the budget.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stoker.core.errors import InvalidInput
from stoker.files.storage import UPLOAD_PREFIX, format_of_name

FORMATS = ("csv", "json", "parquet")
MAX_ROWS = 1_000


@dataclass
class Preview:
    path: str
    format: str
    columns: list[dict[str, str]]  # name, type (Arrow's words: int64, string, timestamp[us] …)
    rows: list[list[Any]]
    truncated: bool  # more rows exist than shown (or may: a read stopped at the byte budget)
    bytes_read: int
    files: int = 1  # data files of a directory
    total_rows: int | None = None  # from Parquet footers, when all were read
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "columns": self.columns, "rows": self.rows,
                "truncated": self.truncated, "bytes_read": self.bytes_read, "files": self.files,
                "total_rows": self.total_rows, "notes": self.notes}


class _Budget(Exception):
    """The byte budget of a preview ran out."""


class _CountingFile(io.RawIOBase):
    """A read-only file that counts what is read and refuses to pass a budget."""

    def __init__(self, path: Path, budget: int) -> None:
        self.handle = open(path, "rb")  # noqa: SIM115 - closed by close()
        self.size = os.fstat(self.handle.fileno()).st_size
        self.budget = budget
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.handle.seek(offset, whence)

    def tell(self) -> int:
        return self.handle.tell()

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        if self.read_bytes + len(view) > self.budget:
            raise _Budget()
        n = self.handle.readinto(view)
        self.read_bytes += n
        return n

    def close(self) -> None:
        self.handle.close()
        super().close()


def preview(rel: str, where: Path, *, rows: int = 20, max_bytes: int, fmt: str | None = None,
            header: bool = True, delimiter: str | None = None) -> Preview:
    """Preview the file or directory at `where` (named `rel` in answers)."""
    if fmt is not None and fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    rows = max(1, min(rows, MAX_ROWS))
    if where.is_dir():
        files = _data_files(where, fmt)
        if not files:
            raise InvalidInput(f"{rel or '/'!r} holds no CSV, JSON or Parquet files to preview")
        fmt = fmt or format_of_name(files[0].name)
        assert fmt is not None
        result = _read(rel, files, fmt, rows, max_bytes, header, delimiter)
        result.files = len(files)
        return result
    fmt = fmt or format_of_name(where.name)
    if fmt is None:
        raise InvalidInput(f"{rel!r}: cannot tell its format from its name; send ?format=csv, json or parquet")
    return _read(rel, [where], fmt, rows, max_bytes, header, delimiter)


def _data_files(directory: Path, fmt: str | None) -> list[Path]:
    """A Spark output's data files in name order: its part files, not _SUCCESS, .crc or hidden ones."""
    found = []
    with os.scandir(directory) as scan:
        for item in scan:
            if item.name.startswith(("_", ".", UPLOAD_PREFIX)) or not item.is_file():
                continue
            kind = format_of_name(item.name)
            if kind is not None and (fmt is None or kind == fmt):
                found.append(Path(item.path))
    found.sort()
    if fmt is None and found:  # one format: the first file's
        first = format_of_name(found[0].name)
        found = [f for f in found if format_of_name(f.name) == first]
    return found


def _read(rel: str, files: list[Path], fmt: str, rows: int, max_bytes: int, header: bool,
          delimiter: str | None) -> Preview:
    import pyarrow as pa

    tables: list[Any] = []
    schema = None
    spent = 0
    truncated = False
    total: int | None = 0 if fmt == "parquet" else None
    notes: list[str] = []
    for index, path in enumerate(files):
        left = max_bytes - spent
        have = sum(t.num_rows for t in tables)
        if have >= rows:
            truncated = True
            total = None  # not every footer was read
            break
        if left <= 0:
            truncated = True
            total = None
            notes.append(f"stopped after {index} of {len(files)} files: the preview reads at most {max_bytes:,} bytes")
            break
        try:
            if fmt == "parquet":
                table, file_schema, used, more, file_rows = _parquet(path, rows - have, left)
                if total is not None:
                    total += file_rows
                if table is None:
                    notes.append(f"{path.name}: its first rows need more than the {max_bytes:,} bytes "
                                 "a preview may read")
            else:
                table, used, more = _text(path, fmt, rows - have, left, header, delimiter)
                file_schema = table.schema if table is not None else None
        except _Budget:
            notes.append(f"{path.name}: its first rows need more than the {max_bytes:,} bytes a preview may read")
            truncated, total = True, None
            break
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"{rel!r} could not be read as {fmt}: {str(exc).splitlines()[0][:300]}") from None
        spent += used
        schema = schema or file_schema
        truncated = truncated or more
        if table is not None and table.num_rows:
            if schema is not None and table.schema != schema:
                try:
                    table = table.cast(schema)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
                    notes.append(f"{path.name}: its schema differs from the first file's; not shown")
                    continue
            tables.append(table)
    if schema is None:
        raise InvalidInput(f"{rel!r}: its first rows need more than the {max_bytes:,} bytes a preview may read")
    combined = pa.concat_tables(tables) if tables else schema.empty_table()
    if combined.num_rows > rows:
        combined, truncated = combined.slice(0, rows), True
    columns = [{"name": f.name, "type": str(f.type)} for f in schema]
    data = [[_json_value(v) for v in row.values()] for row in combined.to_pylist()]
    if total is not None and total > len(data):
        truncated = True
    return Preview(rel, fmt, columns, data, truncated, spent, total_rows=total, notes=notes)


def _parquet(path: Path, rows: int, budget: int) -> tuple[Any | None, Any, int, bool, int]:
    import pyarrow.parquet as pq

    source = _CountingFile(path, budget)
    try:
        parquet = pq.ParquetFile(source, buffer_size=64 * 1024, pre_buffer=False)  # pages, not whole row groups
        file_rows = parquet.metadata.num_rows
        schema = parquet.schema_arrow
        try:
            batch = next(parquet.iter_batches(batch_size=rows, use_threads=False), None)
        except _Budget:
            # The footer was read: the schema is known even though the rows cost too much.
            return None, schema, source.read_bytes, True, file_rows
        table = schema.empty_table() if batch is None else _table_of(batch)
        return table, schema, source.read_bytes, file_rows > table.num_rows, file_rows
    finally:
        source.close()


def _table_of(batch: Any) -> Any:
    import pyarrow as pa

    return pa.Table.from_batches([batch])


def _text(path: Path, fmt: str, rows: int, budget: int, header: bool,
          delimiter: str | None) -> tuple[Any, int, bool]:
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson

    with open(path, "rb") as handle:
        data = handle.read(budget + 1)
    more = len(data) > budget
    if more:
        data = data[: data.rfind(b"\n", 0, budget) + 1]  # whole lines only
        if not data:
            raise _Budget()
    if path.name.lower().endswith((".gz", ".bz2", ".zst", ".lz4")):
        raise InvalidInput(f"{path.name}: compressed text files are not previewed; download it")
    if fmt == "csv":
        sep = delimiter or ("\t" if path.name.lower().endswith(".tsv") else ",")
        table = pcsv.read_csv(io.BytesIO(data),
                              read_options=pcsv.ReadOptions(autogenerate_column_names=not header,
                                                            use_threads=False),
                              parse_options=pcsv.ParseOptions(delimiter=sep))
    else:
        table = pjson.read_json(io.BytesIO(data), read_options=pjson.ReadOptions(use_threads=False))
    if table.num_rows > rows:
        table, more = table.slice(0, rows), True
    return table, len(data), more


def _json_value(value: Any) -> Any:
    """A cell as JSON can carry it: times as ISO-8601, decimals and big numbers as text, bytes in base64."""
    if value is None or isinstance(value, (bool, str, float)):
        return value
    if isinstance(value, int):
        return value if -(2**53) <= value <= 2**53 else str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return str(value)
