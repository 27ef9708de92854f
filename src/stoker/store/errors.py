"""Database failures, as whoever answers for them needs to tell them apart (app.py's error
handler): the driver's errors, and which of them mean the database is unreachable for now."""

from __future__ import annotations

import sqlalchemy as sa

DatabaseError = sa.exc.DBAPIError  # any failure the database or its driver reported


def is_unavailable(exc: BaseException) -> bool:
    """The database could not be reached, or its connection broke (restarting, network): the
    transaction never committed, and a retry shortly may succeed."""
    return isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)) or (
        isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated)
