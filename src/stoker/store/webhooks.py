"""The registered webhooks' rows, each with its delivery cursor (store/sink_cursors.py).

sinks/webhooks.py (`WebhookStore`) checks a registration and seals its secret; the rows here hold
the secret sealed, as stored.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from stoker.core.errors import NotFound
from stoker.store import sink_cursors
from stoker.store.db import Database
from stoker.store.records.operations import CursorState
from stoker.store.tables import outbox, webhooks
from stoker.store.tables import sink_cursors as cursor_rows


@dataclass(frozen=True)
class WebhookRow:
    id: str
    url: str
    events: list[str] | None  # None: every event
    secret: str  # sealed
    description: str
    created_at: float
    team: str = "default"  # it hears this team's events, no other's

    @classmethod
    def from_row(cls, row: Any) -> WebhookRow:
        return cls(row.id, row.url, row.events, row.secret, row.description, row.created_at, row.team_id)


class WebhookRows:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, row: WebhookRow, cursor: str) -> None:
        """Store a webhook and its cursor, which starts at the outbox's head: it receives the
        events from now on, not the whole history."""
        with self.db.write() as conn:
            conn.execute(webhooks.insert().values(
                id=row.id, url=row.url, events=row.events, secret=row.secret,
                description=row.description, created_at=row.created_at, team_id=row.team))
            start = conn.execute(sa.select(sa.func.coalesce(sa.func.max(outbox.c.seq), 0))).scalar_one()
            sink_cursors.create(conn, cursor, int(start), row.created_at)

    def list(self, cursor_of: Callable[[str], str], *,
             team: str | None = None) -> builtins.list[tuple[WebhookRow, CursorState | None]]:
        """Every webhook (of `team`), oldest first, with the delivery state of its cursor (named by
        `cursor_of`)."""
        query = sa.select(webhooks).order_by(webhooks.c.created_at)
        if team is not None:
            query = query.where(webhooks.c.team_id == team)
        with self.db.read() as conn:
            rows = [WebhookRow.from_row(r) for r in conn.execute(query)]
            state = sink_cursors.status(conn, [cursor_of(r.id) for r in rows])
        return [(r, state.get(cursor_of(r.id))) for r in rows]

    def get(self, webhook_id: str, cursor: str, *, team: str | None = None) -> tuple[WebhookRow, CursorState | None]:
        """One webhook (of `team`: another team's is not found)."""
        query = sa.select(webhooks).where(webhooks.c.id == webhook_id)
        if team is not None:
            query = query.where(webhooks.c.team_id == team)
        with self.db.read() as conn:
            row = conn.execute(query).first()
            if row is None:
                raise NotFound(f"no webhook with id {webhook_id!r}")
            return WebhookRow.from_row(row), sink_cursors.status(conn, [cursor]).get(cursor)

    def delete(self, webhook_id: str, cursor: str, *, team: str | None = None) -> None:
        """Remove a webhook (of `team`) and its cursor."""
        query = webhooks.delete().where(webhooks.c.id == webhook_id)
        if team is not None:
            query = query.where(webhooks.c.team_id == team)
        with self.db.write() as conn:
            gone = conn.execute(query).rowcount
            if not gone:
                raise NotFound(f"no webhook with id {webhook_id!r}")
            conn.execute(cursor_rows.delete().where(cursor_rows.c.name == cursor))

    def all(self) -> builtins.list[WebhookRow]:
        with self.db.read() as conn:
            return [WebhookRow.from_row(r) for r in conn.execute(sa.select(webhooks))]
