"""Small named values the installation keeps in its database (`settings_kv`)."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from stoker.store.db import Database
from stoker.store.tables import settings_kv


def get_or_create(db: Database, key: str, make: Callable[[], str]) -> str:
    """The value under `key`, made with `make()` and kept on first use; when another process
    makes it at the same time, theirs wins and both answer it."""
    query = sa.select(settings_kv.c.value).where(settings_kv.c.key == key)
    try:
        with db.write() as conn:
            found = conn.execute(query).scalar()
            if found is None:
                found = make()
                conn.execute(settings_kv.insert().values(key=key, value=found))
    except IntegrityError:  # another process made it first: use theirs
        with db.read() as conn:
            found = conn.execute(query).scalar_one()
    return str(found)
