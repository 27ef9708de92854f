"""The query parameters every list shares: a bounded page size and an opaque cursor.

A cursor is the `next_cursor` of the previous page, a short string of digits. Declaring it as such
(not as an integer, which a query string may spell `+0.0` or `1e3`) lets the schema refuse what
the server would, and keeps it within what the store's integers hold (18 digits < 2^63)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from stoker.core import limits

PageSize = Annotated[int, Query(ge=1, le=limits.MAX_PAGE_SIZE, description="page size")]
Cursor = Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$",
                                     description="`next_cursor` of the previous page")]


def cursor_value(cursor: str | None) -> int | None:
    return None if cursor is None else int(cursor)
