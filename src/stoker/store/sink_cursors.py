"""Durable per-sink cursors, each with a lease so that one publisher process delivers for a sink.

Every API replica runs a publisher, but a sink is served by one of them at a time: the one holding
its cursor row's lease. A lease is taken with one conditional UPDATE (free, expired, or already ours),
renewed whenever the cursor moves and while idle, and fenced: moving the cursor is an UPDATE that
also requires `owner = me`, so a process that lost its lease (it stalled past the expiry and another
took over) learns it at its next step and stops. Such a stall can deliver a few events twice; that is
the at-least-once contract, and receivers dedupe by the event seq.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from stoker.store.db import Database, insert_unless_exists
from stoker.store.records import from_row
from stoker.store.records.operations import CursorState, SinkLag
from stoker.store.tables import outbox, sink_cursors


@dataclass(frozen=True)
class Claim:
    position: int
    failures: int


class Cursors:
    def __init__(self, db: Database, owner: str, lease_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.clock = clock

    def ensure(self, name: str, position: int = 0) -> None:
        """Create the cursor if it does not exist (a new sink starts at `position`)."""
        with self.db.write() as conn:
            create(conn, name, position, self.clock())

    def claim(self, name: str) -> Claim | None:
        """Take or renew the lease; None while another live publisher holds it (or no such cursor)."""
        now = self.clock()
        with self.db.write() as conn:
            row = conn.execute(
                sink_cursors.update()
                .where(sink_cursors.c.name == name,
                       sa.or_(sink_cursors.c.owner.is_(None), sink_cursors.c.owner == self.owner,
                              sink_cursors.c.lease_expires_at < now))
                .values(owner=self.owner, lease_expires_at=now + self.lease_seconds, updated_at=now)
                .returning(sink_cursors.c.position, sink_cursors.c.failures)
            ).first()
        return None if row is None else Claim(int(row.position), int(row.failures))

    def advance(self, name: str, position: int, *, delivered: bool) -> bool:
        """Move the cursor (and renew the lease); False when the lease is no longer ours."""
        now = self.clock()
        values: dict[str, Any] = {"position": position, "lease_expires_at": now + self.lease_seconds,
                                  "updated_at": now, "failures": 0, "last_error": None}
        if delivered:
            values["delivered_at"] = now
        return self._update_owned(name, values)

    def failed(self, name: str, position: int, failures: int, error: str) -> bool:
        """Record a failed delivery (what got through before it still counts); False if not ours."""
        now = self.clock()
        return self._update_owned(name, {
            "position": position, "failures": failures, "last_error": error[:2000],
            "lease_expires_at": now + self.lease_seconds, "updated_at": now})

    def release(self, name: str) -> None:
        """Give the lease up at shutdown, so another replica takes over at once."""
        with self.db.write() as conn:
            conn.execute(sink_cursors.update()
                         .where(sink_cursors.c.name == name, sink_cursors.c.owner == self.owner)
                         .values(owner=None, lease_expires_at=None, updated_at=self.clock()))

    def _update_owned(self, name: str, values: dict[str, Any]) -> bool:
        with self.db.write() as conn:
            result = conn.execute(sink_cursors.update()
                                  .where(sink_cursors.c.name == name, sink_cursors.c.owner == self.owner)
                                  .values(**values))
        return result.rowcount == 1


def create(conn: sa.engine.Connection, name: str, position: int, now: float) -> None:
    conn.execute(insert_unless_exists(conn, sink_cursors,
                                      {"name": name, "position": position, "updated_at": now}, ["name"]))


def status(conn: sa.engine.Connection, names: list[str]) -> dict[str, CursorState]:
    """Delivery state of some cursors, by name."""
    rows = conn.execute(sa.select(sink_cursors).where(sink_cursors.c.name.in_(names))).all()
    return {r.name: from_row(CursorState, r) for r in rows}


def lag(conn: sa.engine.Connection) -> list[SinkLag]:
    """How far each sink is behind the outbox: events not yet delivered, and its last error."""
    head = conn.execute(sa.select(sa.func.max(outbox.c.seq))).scalar() or 0
    rows = conn.execute(sa.select(sink_cursors).order_by(sink_cursors.c.name)).all()
    return [SinkLag(name=r.name, behind=max(0, head - r.position), failures=r.failures, last_error=r.last_error,
                    delivered_at=r.delivered_at) for r in rows]


def sink_lag(db: Database) -> list[SinkLag]:
    """Per sink, in one read: events not yet delivered, its failures and last error, when it last
    delivered (the UI's overview shows it)."""
    with db.read() as conn:
        return lag(conn)
