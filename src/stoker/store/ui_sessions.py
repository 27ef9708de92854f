"""Browser sessions of the web UI: server-side, so a session is revocable and expires.

The cookie holds a random session id; only its SHA-256 hash is stored (as for tokens). A session
lives only as long as the token it was opened with: revoking the token ends its sessions too.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from stoker.core.periodic import Periodic
from stoker.store.db import Database
from stoker.store.tables import tokens, ui_sessions
from stoker.store.tokens import Principal, principal_of, principal_select

DEFAULT_TTL_SECONDS = 12 * 3600


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class UiSession:
    principal: Principal
    csrf_token: str
    expires_at: float


class UiSessionStore:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def open(self, principal: Principal, ttl_seconds: float = DEFAULT_TTL_SECONDS) -> tuple[str, UiSession]:
        """A new session for a signed-in token: returns (the cookie's session id, the session)."""
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self.clock()
        with self.db.write() as conn:
            conn.execute(ui_sessions.insert().values(
                id_hash=_hash(session_id), token_id=principal.token_id, csrf_token=csrf,
                created_at=now, expires_at=now + ttl_seconds))
        return session_id, UiSession(principal, csrf, now + ttl_seconds)

    def lookup(self, session_id: str) -> UiSession | None:
        """The live session of this id: None when unknown, expired, signed out or its token revoked."""
        now = self.clock()
        query = (principal_select().add_columns(ui_sessions.c.csrf_token, ui_sessions.c.expires_at)
                 .join(ui_sessions, tokens.c.id == ui_sessions.c.token_id)
                 .where(ui_sessions.c.id_hash == _hash(session_id), ui_sessions.c.revoked_at.is_(None),
                        ui_sessions.c.expires_at > now, tokens.c.revoked_at.is_(None)))
        with self.db.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return UiSession(principal_of(row), row.csrf_token, row.expires_at)

    def close(self, session_id: str) -> None:
        """Sign out: the session is revoked (kept for the record) and never accepted again."""
        with self.db.write() as conn:
            conn.execute(ui_sessions.update().where(ui_sessions.c.id_hash == _hash(session_id))
                         .values(revoked_at=self.clock()))

    def prune(self, older_than: float) -> int:
        """Forget sessions that expired before `older_than` (epoch seconds)."""
        with self.db.write() as conn:
            return conn.execute(ui_sessions.delete().where(ui_sessions.c.expires_at < older_than)).rowcount


PRUNE_EVERY_SECONDS = 3600.0


def ui_session_pruner(db: Database) -> Periodic:
    """The duty that forgets expired sessions (signed-out ones included, once expired), hourly, so
    the table holds only the sessions of about the last session lifetime."""
    store = UiSessionStore(db)
    return Periodic("ui-sessions", lambda: PRUNE_EVERY_SECONDS, lambda: store.prune(store.clock()))
