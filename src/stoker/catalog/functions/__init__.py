"""The built-in functions, in the order describe() lists them."""

from __future__ import annotations

from stoker.catalog.functions.actions import collect, count
from stoker.catalog.functions.sate import sate_ping
from stoker.catalog.functions.sources import range_, read_csv, read_json, read_parquet, sql
from stoker.catalog.functions.transforms import (
    cache,
    distinct,
    drop,
    filter_,
    group_by,
    join,
    limit,
    rename,
    select,
    sort,
    union,
    with_column,
)
from stoker.catalog.functions.utilities import fail, noop, sleep
from stoker.catalog.functions.vectorised import zscore
from stoker.catalog.functions.writes import write_csv, write_json, write_parquet
from stoker.catalog.spec import FunctionSpec

_BUILTINS: tuple[FunctionSpec, ...] = (
    range_, read_csv, read_json, read_parquet, sql,
    select, filter_, with_column, drop, rename, distinct, sort, limit, group_by, join, union, cache, zscore,
    count, collect,
    write_csv, write_json, write_parquet,
    noop, sleep, fail,
    sate_ping,
)


def builtin_functions() -> tuple[FunctionSpec, ...]:
    """The functions every catalog has (plugins cannot replace them)."""
    return _BUILTINS
