"""API tokens: only SHA-256 hashes are stored; the token itself is shown once, when made."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from stoker.core.errors import Conflict, InvalidInput
from stoker.store.db import Database
from stoker.store.tables import tokens

SCOPES = ("admin", "submit", "read", "worker", "ingest")
TOKEN_PREFIX = "stk_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


# A user name: what cluster URLs (/clusters/{user}/…), owners and `{user}` path parts show.
USER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
ADMIN_USER = "admin"
LISTENER_USER = "stoker-listener"


def user_slug(name: str) -> str:
    """A user name made from a token's description (`Alice's laptop` → `alice-s-laptop`)."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._")[:32].strip("-._")
    return slug or "user"


def check_user_name(user: str) -> str:
    if not USER_NAME.match(user):
        raise InvalidInput(f"user name {user!r} must be 1-32 characters of a-z, 0-9, '.', '_' or '-', "
                           "starting with a letter or digit (it appears in URLs)", field="user")
    return user


@dataclass(frozen=True)
class Principal:
    token_id: str
    name: str  # the token's description
    scopes: frozenset[str]
    user: str = ""  # the user it acts for (URL-safe); "" only for tokens of before user names

    @property
    def owner(self) -> str:
        """Who owns what this principal makes (clusters): its user name."""
        return self.user or user_slug(self.name)

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


class TokenStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Bumped by every revoke through this store: a cache of look-ups (TokenCache) drops what
        # it holds when it sees a new value, so a token revoked in this process stops at once.
        self.revocations = 0

    def create(self, name: str, scopes: list[str], token: str | None = None, *, user: str | None = None,
               shared: bool = False) -> str:
        """Make a token for `user`. A user name belongs to one live token: a chosen one that is
        taken is refused (409; revoke the old token first to hand its name on), unless `shared`
        (the server's built-in users, e.g. a new STOKER_ADMIN_TOKEN for `admin`). Without one, the
        user name is made from `name`, with -2, -3 … when that is taken."""
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise ValueError(f"unknown scope(s) {bad}; choose from {', '.join(SCOPES)}")
        chosen = user is not None
        user = check_user_name(user if user is not None else user_slug(name))
        token = token or new_token()
        with self.db.write() as conn:
            if not shared:
                live = set(conn.execute(sa.select(tokens.c.user_name).where(
                    tokens.c.user_name.like(f"{user}%"), tokens.c.revoked_at.is_(None))).scalars())
                if user in live and chosen:
                    holder = conn.execute(sa.select(tokens.c.name).where(
                        tokens.c.user_name == user, tokens.c.revoked_at.is_(None)).limit(1)).scalar()
                    raise Conflict(f"user name {user!r} is taken (by the token {holder!r}); choose another "
                                   "one, or revoke that token first", field="user")
                base, n = user[:28], 2
                while user in live:
                    user, n = f"{base}-{n}", n + 1
            conn.execute(tokens.insert().values(
                id=str(uuid.uuid4()), name=name, user_name=user, token_hash=hash_token(token),
                scopes=" ".join(sorted(set(scopes))), created_at=time.time()))
        return token

    def ensure(self, name: str, scopes: list[str], token: str, *, user: str | None = None) -> None:
        """Register a token given from outside (STOKER_ADMIN_TOKEN) unless it is known."""
        with self.db.read() as conn:
            known = conn.execute(sa.select(tokens.c.id)
                                 .where(tokens.c.token_hash == hash_token(token))).first()
        if known is None:
            try:
                self.create(name, scopes, token, user=user or user_slug(name), shared=True)
            except sa.exc.IntegrityError:
                pass  # another replica registered it at the same moment

    def any_admin(self) -> bool:
        with self.db.read() as conn:
            return conn.execute(sa.select(tokens.c.id).where(tokens.c.scopes.contains("admin"))
                                .limit(1)).first() is not None

    def lookup(self, token: str) -> Principal | None:
        return self.lookup_hash(hash_token(token))

    def lookup_hash(self, token_hash: str) -> Principal | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(tokens).where(tokens.c.token_hash == token_hash,
                                                       tokens.c.revoked_at.is_(None))).first()
        if row is None:
            return None
        return Principal(row.id, row.name, frozenset(row.scopes.split()), row.user_name or "")

    def list(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return [{"id": r.id, "name": r.name, "user": r.user_name, "scopes": r.scopes.split(),
                     "created_at": r.created_at, "revoked": r.revoked_at is not None}
                    for r in conn.execute(sa.select(tokens).order_by(tokens.c.created_at))]

    def revoke(self, token_id: str) -> bool:
        with self.db.write() as conn:
            revoked: bool = conn.execute(tokens.update().where(tokens.c.id == token_id)
                                         .values(revoked_at=time.time())).rowcount > 0
        self.revocations += 1
        return revoked


class TokenCache:
    """Token look-ups cached briefly, so a busy endpoint does not read the tokens table per request.

    Keyed by the token's SHA-256 (the secret itself is never kept here). An answer is reused for at
    most `ttl_seconds`; a revoke through this process's TokenStore (the web UI's) empties the cache at
    once, and a revoke elsewhere (`stoker token revoke`, another replica) takes effect here within
    `ttl_seconds`. Unknown tokens are cached too (as None), for as long.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, tokens: TokenStore, ttl_seconds: float = 2.0) -> None:
        self.tokens = tokens
        self.ttl_seconds = ttl_seconds
        self._entries: dict[str, tuple[float, Principal | None]] = {}
        self._seen_revocations = tokens.revocations

    def cached(self, token: str) -> tuple[bool, Principal | None, str]:
        """(True, principal, hash) when the answer is cached and fresh; (False, None, hash) when it
        is not. No database work, so the event loop may call it."""
        if self._seen_revocations != self.tokens.revocations:
            self._seen_revocations = self.tokens.revocations
            self._entries = {}
        token_hash = hash_token(token)
        hit = self._entries.get(token_hash)
        if hit is not None and hit[0] > time.monotonic():
            return True, hit[1], token_hash
        return False, None, token_hash

    def lookup(self, token: str) -> Principal | None:
        found, principal, token_hash = self.cached(token)
        if found:
            return principal
        revocations = self.tokens.revocations
        expires = time.monotonic() + self.ttl_seconds
        principal = self.tokens.lookup_hash(token_hash)
        if revocations == self.tokens.revocations:  # else a revoke raced this read: keep nothing
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries = {}
            self._entries[token_hash] = (expires, principal)
        return principal
