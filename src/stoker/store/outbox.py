"""Run events, written in the same transaction as the state change they describe."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.engine import Connection

from stoker.store.tables import outbox


def record_events(conn: Connection, now: float, events: Iterable[Mapping[str, Any]]) -> None:
    """Append events ({"run_id", "job_id", "event", ...payload}) to the outbox."""
    rows = [
        {"run_id": e["run_id"], "job_id": e["job_id"], "event": e["event"], "payload": dict(e),
         "created_at": now}
        for e in events
    ]
    if rows:
        conn.execute(outbox.insert(), rows)
