"""What the store hands out: typed, immutable records (msgspec Structs), one module per area.

A record is a row as the rest of Stoker reads it: named fields with their types, so a consumer's
typo or a renamed column is a mypy error, not a KeyError at run time. Records hold plain values
(the JSON columns' dicts and lists as stored); how they look in an answer (ISO times, redaction,
links) is the API's views' business, not theirs. Frozen: a record is what was read; change the
database, then read it again (`msgspec.structs.replace` for a copy that differs).
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

R = TypeVar("R", bound=msgspec.Struct)


def from_row(record: type[R], row: Any) -> R:
    """A record of type `record` from a row that holds (at least) its fields by name: a column
    added to the table later changes nothing here until the record names it."""
    return record(**{name: getattr(row, name) for name in record.__struct_fields__})
