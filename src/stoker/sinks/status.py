"""How far each sink is behind the outbox, as one plain read (the UI's overview shows it)."""

from __future__ import annotations

from typing import Any

from stoker.sinks.cursors import lag
from stoker.store.db import Database


def sink_lag(db: Database) -> list[dict[str, Any]]:
    """Per sink: events not yet delivered, its failures and last error, when it last delivered."""
    with db.read() as conn:
        return lag(conn)
