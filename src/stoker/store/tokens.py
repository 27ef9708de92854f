"""API tokens: only SHA-256 hashes are stored; the token itself is shown once, when made."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from stoker.store.db import Database
from stoker.store.tables import tokens

SCOPES = ("admin", "submit", "read", "worker", "ingest")
TOKEN_PREFIX = "stk_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    token_id: str
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


class TokenStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, name: str, scopes: list[str], token: str | None = None) -> str:
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise ValueError(f"unknown scope(s) {bad}; choose from {', '.join(SCOPES)}")
        token = token or new_token()
        with self.db.write() as conn:
            conn.execute(tokens.insert().values(
                id=str(uuid.uuid4()), name=name, token_hash=hash_token(token),
                scopes=" ".join(sorted(set(scopes))), created_at=time.time()))
        return token

    def ensure(self, name: str, scopes: list[str], token: str) -> None:
        """Register a token given from outside (STOKER_ADMIN_TOKEN) unless it is known."""
        with self.db.read() as conn:
            known = conn.execute(sa.select(tokens.c.id)
                                 .where(tokens.c.token_hash == hash_token(token))).first()
        if known is None:
            try:
                self.create(name, scopes, token)
            except sa.exc.IntegrityError:
                pass  # another replica registered it at the same moment

    def any_admin(self) -> bool:
        with self.db.read() as conn:
            return conn.execute(sa.select(tokens.c.id).where(tokens.c.scopes.contains("admin"))
                                .limit(1)).first() is not None

    def lookup(self, token: str) -> Principal | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(tokens).where(tokens.c.token_hash == hash_token(token),
                                                       tokens.c.revoked_at.is_(None))).first()
        if row is None:
            return None
        return Principal(row.id, row.name, frozenset(row.scopes.split()))

    def list(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [{"id": r.id, "name": r.name, "scopes": r.scopes.split(),
                     "created_at": r.created_at, "revoked": r.revoked_at is not None}
                    for r in conn.execute(sa.select(tokens).order_by(tokens.c.created_at))]

    def revoke(self, token_id: str) -> bool:
        with self.db.write() as conn:
            return conn.execute(tokens.update().where(tokens.c.id == token_id)
                                .values(revoked_at=time.time())).rowcount > 0
