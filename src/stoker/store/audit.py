"""The audit log (docs/teams.md): who did what, when, from where, in which team. Append-only: rows
are inserted and, past the retention, deleted; never changed.

Changes made through the HTTP API are recorded by the API's audit middleware, which hands entries to
an `AuditWriter`: they are written in batches, off the request's path, so recording every change
does not cost every request a transaction of its own. What happens outside a request (tokens made
or revoked from the command line) is written in the same transaction as the change itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stoker.core.periodic import Periodic
from stoker.store.db import Database
from stoker.store.tables import audit_log

log = logging.getLogger(__name__)

SERVER = ""  # the team of an act that concerns the server, not one team (made a team, a product)


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    team: str
    action: str
    target: str | None = None
    source: str | None = None
    token_id: str | None = None
    status: int | None = None
    detail: dict[str, Any] | None = None
    at: float = field(default_factory=time.time)

    def row(self) -> dict[str, Any]:
        values = asdict(self)
        values["team_id"] = values.pop("team")
        return values


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: float
    team: str
    actor: str
    token_id: str | None
    source: str | None
    action: str
    target: str | None
    status: int | None
    detail: dict[str, Any] | None

    def view(self) -> dict[str, Any]:
        return asdict(self)


def record(conn: Connection, entry: AuditEntry) -> None:
    """Write one entry inside the caller's transaction (it stands or falls with the change)."""
    conn.execute(audit_log.insert().values(**entry.row()))


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, entries: list[AuditEntry]) -> None:
        if entries:
            with self.db.write() as conn:
                conn.execute(audit_log.insert(), [e.row() for e in entries])

    def query(self, *, team: str | None, after: int = 0, limit: int = 100, actor: str | None = None,
              action: str | None = None, since: float | None = None) -> list[AuditRecord]:
        """Entries after seq `after`, oldest first; `team` None: every team's (an admin's view)."""
        return list(self._select(team=team, after=after, limit=limit, actor=actor, action=action, since=since))

    def export(self, *, team: str | None, since: float | None = None, page: int = 1000) -> Iterator[AuditRecord]:
        """Every entry (of `team`), oldest first, read a page at a time."""
        after = 0
        while True:
            rows = self.query(team=team, after=after, limit=page, since=since)
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1].seq

    def _select(self, *, team: str | None, after: int, limit: int, actor: str | None, action: str | None,
                since: float | None) -> Iterator[AuditRecord]:
        query = sa.select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(limit)
        if team is not None:
            query = query.where(audit_log.c.team_id == team)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        if action is not None:
            query = query.where(audit_log.c.action == action)
        if since is not None:
            query = query.where(audit_log.c.at >= since)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        for r in rows:
            yield AuditRecord(r.seq, r.at, r.team_id, r.actor, r.token_id, r.source, r.action, r.target,
                              r.status, r.detail)

    def prune(self, older_than: float) -> int:
        """Delete entries made before `older_than` (the retention); how many went."""
        with self.db.write() as conn:
            deleted: int = conn.execute(audit_log.delete().where(audit_log.c.at < older_than)).rowcount
        if deleted:
            log.info("pruned %d audit entr%s older than the retention", deleted, "y" if deleted == 1 else "ies")
        return deleted


class AuditWriter:
    """Entries handed over by requests, written in batches by one thread: at most `interval`
    seconds after the request, or at once when `batch` are waiting. `flush()` writes what waits
    (the app's shutdown, tests); what waits when the process is killed is lost."""

    def __init__(self, audit: AuditLog, *, interval: float = 0.2, batch: int = 500) -> None:
        self.audit = audit
        self.interval = interval
        self.batch = batch
        self._pending: list[AuditEntry] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, entry: AuditEntry) -> None:
        with self._lock:
            self._pending.append(entry)
            full = len(self._pending) >= self.batch
        if self._thread is None:  # not started (a CLI, a test without the app's lifespan): write now
            self.flush()
        elif full:
            self._wake.set()

    def flush(self) -> None:
        with self._lock:
            entries, self._pending = self._pending, []
        try:
            self.audit.append(entries)
        except Exception:  # the database is away: keep them for the next try
            log.exception("could not write %d audit entries; will retry", len(entries))
            with self._lock:
                self._pending[:0] = entries

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="stoker-audit", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()


PRUNE_EVERY_SECONDS = 3600.0


def audit_pruner(db: Database, retention_seconds: float) -> Periodic:
    """The duty that deletes audit entries past the retention, hourly (0: keeps them all)."""
    audit = AuditLog(db)

    def prune() -> None:
        if retention_seconds > 0:
            audit.prune(time.time() - retention_seconds)

    return Periodic("audit-retention", lambda: PRUNE_EVERY_SECONDS, prune)
