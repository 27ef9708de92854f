"""Run events, written in the same transaction as the state change they describe."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stoker.store.notify import CHANNEL
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


def notify_work_arrived(conn: Connection) -> None:
    """On PostgreSQL, wake claimers in other processes when this transaction commits: called where
    work arrives (submit, re-queue, retry, cancel request, and an attempt's end, which frees a job
    slot). Claims do not notify, so a worker is not woken by its own claims. Publishers and
    long-pollers in other processes wake on the same notifications (the finish of a run they wait
    for among them) and poll briefly otherwise. (NOTIFYs of one transaction on one channel arrive
    once.)"""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
