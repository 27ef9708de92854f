"""Turning frames into JSON results: rows (capped), counts, and written-file summaries.

Converters are chosen once per column from the Spark type, so the common columns (strings,
integers, booleans) are copied as they are and only the others pay for a conversion.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stoker.catalog.errors import ResultTooLarge

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DataType

Convert = Callable[[Any], Any]

# Decimals with more digits than a double holds exactly are sent as strings, per column, so a
# column never mixes numbers and strings.
FLOAT_SAFE_DIGITS = 15


def collect_rows(frame: DataFrame, max_rows: int, max_bytes: int) -> dict[str, Any]:
    """{"type": "rows", "columns", "rows", "row_count"}, or ResultTooLarge. Only max_rows + 1 rows
    ever leave Spark: one more than allowed is enough to know the result is too large."""
    fields = frame.schema.fields
    fetched = frame.limit(max_rows + 1).collect()
    if len(fetched) > max_rows:
        raise ResultTooLarge(
            f"the result has more than {max_rows} rows, the most a run returns inline; add "
            f'["limit", {max_rows}] before collect, or write it to a file with write_parquet or write_csv')
    converters = [converter(f.dataType) for f in fields]
    if all(c is _identity for c in converters):
        rows = [list(r) for r in fetched]
    else:
        rows = [[c(v) for c, v in zip(converters, r, strict=False)] for r in fetched]
    size = len(json.dumps(rows, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode())
    if size > max_bytes:
        raise ResultTooLarge(
            f"the result is {size} bytes of JSON, more than the {max_bytes} a run returns inline; "
            "select fewer columns, add a limit before collect, or write it to a file with "
            "write_parquet or write_csv")
    return {
        "type": "rows",
        "columns": [{"name": f.name, "type": f.dataType.simpleString()} for f in fields],
        "rows": rows,
        "row_count": len(rows),
    }


def converter(data_type: DataType) -> Convert:
    """A function making one value of this Spark type JSON-safe (None stays None)."""
    from pyspark.sql import types as T

    if isinstance(data_type, (T.StringType, T.BooleanType, T.ByteType, T.ShortType,
                              T.IntegerType, T.LongType, T.NullType)):
        return _identity
    if isinstance(data_type, (T.FloatType, T.DoubleType)):
        return _float
    if isinstance(data_type, T.DecimalType):
        return _decimal_as_float if data_type.precision <= FLOAT_SAFE_DIGITS else _decimal_as_str
    if isinstance(data_type, (T.DateType, T.TimestampType, T.TimestampNTZType)):
        return _iso
    if isinstance(data_type, T.BinaryType):
        return _base64
    if isinstance(data_type, T.ArrayType):
        element = converter(data_type.elementType)
        return lambda v: None if v is None else [element(x) for x in v]
    if isinstance(data_type, T.MapType):
        key, value = converter(data_type.keyType), converter(data_type.valueType)
        return lambda v: None if v is None else {_key(key(k)): value(x) for k, x in v.items()}
    if isinstance(data_type, T.StructType):
        names = [f.name for f in data_type.fields]
        convs = [converter(f.dataType) for f in data_type.fields]
        return lambda v: None if v is None else {n: c(x) for n, c, x in zip(names, convs, v, strict=False)}
    return json_safe


def json_safe(value: Any) -> Any:
    """Any value pyspark returns, made JSON-safe by its Python type (for types without a
    dedicated converter: intervals, variants, and whatever Spark adds next)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, decimal.Decimal):
        return _decimal_as_str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray)):
        return _base64(value)
    if isinstance(value, dict):
        return {_key(json_safe(k)): json_safe(v) for k, v in value.items()}
    if hasattr(value, "asDict"):  # Row
        return {k: json_safe(v) for k, v in value.asDict().items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "toJson"):  # VariantVal
        return json.loads(value.toJson())
    return str(value)


def _identity(value: Any) -> Any:
    return value


def _float(value: Any) -> Any:
    if value is None or math.isfinite(value):
        return value
    # JSON has no NaN or Infinity; the strings are what Spark itself prints.
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _decimal_as_float(value: Any) -> Any:
    return None if value is None else float(value)


def _decimal_as_str(value: Any) -> Any:
    return None if value is None else str(value)


def _iso(value: Any) -> Any:
    return None if value is None else value.isoformat()


def _base64(value: Any) -> Any:
    return None if value is None else base64.b64encode(bytes(value)).decode("ascii")


def _key(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
