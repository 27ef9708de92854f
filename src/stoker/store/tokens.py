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

from stoker.core.errors import Conflict, InvalidInput, NotFound
from stoker.core.teams import DEFAULT_TEAM, check_role, role_allows, role_for_scopes
from stoker.store.audit import AuditEntry, record
from stoker.store.db import Database
from stoker.store.memberships import ensure_default_team, team_exists, upsert_membership
from stoker.store.tables import memberships, tokens

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
    team: str = DEFAULT_TEAM  # the team it acts in
    role: str | None = None  # its user's role in that team (None: not a member, or no longer)

    @property
    def admin(self) -> bool:
        """A server admin: passes every check, sees every team."""
        return "admin" in self.scopes

    @property
    def ingest_team(self) -> str | None:
        """The team whose Spark apps this principal's events go to (an ingest token is bound to
        its team); None for the listener of Stoker's own runs and admins, whose events go to the
        run's team."""
        return None if self.admin or self.user == LISTENER_USER else self.team

    @property
    def sees(self) -> str | None:
        """The team whose resources this principal's reads and lists see; None: every team (an admin)."""
        return None if self.admin else self.team

    def may(self, role: str | None) -> bool:
        """Whether its user's role in its team is at least `role` (an admin always may)."""
        return self.admin or role_allows(self.role, role)

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
               shared: bool = False, team: str = DEFAULT_TEAM, role: str | None = None,
               by: AuditEntry | None = None) -> str:
        """Make a token for `user`, acting in `team`. A user name belongs to one live token per
        team: a chosen one that is taken is refused (409; revoke the old token first to hand its
        name on), unless `shared` (the server's built-in users, e.g. a new STOKER_ADMIN_TOKEN for
        `admin`). Without one, the user name is made from `name`, with -2, -3 … when that is taken.

        The user joins `team` with `role` (a member's role changes to it); without one, a new
        member gets what the scopes let it do (admin → owner, submit → editor, else viewer). The
        audit log records it, as `by` says (the command line when None)."""
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise ValueError(f"unknown scope(s) {bad}; choose from {', '.join(SCOPES)}")
        if role is not None:
            check_role(role)
        chosen = user is not None
        user = check_user_name(user if user is not None else user_slug(name))
        token = token or new_token()
        with self.db.write() as conn:
            if team == DEFAULT_TEAM:
                ensure_default_team(conn)
            elif not team_exists(conn, team):
                raise NotFound(f"no team {team!r} (make it first: stoker team create {team})")
            if not shared:
                live = set(conn.execute(sa.select(tokens.c.user_name).where(
                    tokens.c.user_name.like(f"{user}%"), tokens.c.team_id == team,
                    tokens.c.revoked_at.is_(None))).scalars())
                if user in live and chosen:
                    holder = conn.execute(sa.select(tokens.c.name).where(
                        tokens.c.user_name == user, tokens.c.team_id == team,
                        tokens.c.revoked_at.is_(None)).limit(1)).scalar()
                    raise Conflict(f"user name {user!r} is taken (by the token {holder!r}); choose another "
                                   "one, or revoke that token first", field="user")
                base, n = user[:28], 2
                while user in live:
                    user, n = f"{base}-{n}", n + 1
            token_id = str(uuid.uuid4())
            conn.execute(tokens.insert().values(
                id=token_id, name=name, user_name=user, token_hash=hash_token(token),
                scopes=" ".join(sorted(set(scopes))), created_at=time.time(), team_id=team))
            upsert_membership(conn, team, user, role or role_for_scopes(scopes), only_if_missing=role is None)
            record(conn, _by(by, team, "token.create", token_id,
                             {"user": user, "name": name, "scopes": sorted(set(scopes))}))
        return token

    def ensure(self, name: str, scopes: list[str], token: str, *, user: str | None = None) -> None:
        """Register a token given from outside (STOKER_ADMIN_TOKEN) unless it is known."""
        with self.db.read() as conn:
            known = conn.execute(sa.select(tokens.c.id)
                                 .where(tokens.c.token_hash == hash_token(token))).first()
        if known is None:
            try:
                self.create(name, scopes, token, user=user or user_slug(name), shared=True, by=SERVER_START)
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
            row = conn.execute(principal_select().where(tokens.c.token_hash == token_hash,
                                                        tokens.c.revoked_at.is_(None))).first()
        return None if row is None else principal_of(row)

    def list(self, *, team: str | None = None) -> list[dict[str, Any]]:
        """Every token (of `team`), oldest first: never the token itself, nor its hash."""
        query = sa.select(tokens).order_by(tokens.c.created_at)
        if team is not None:
            query = query.where(tokens.c.team_id == team)
        with self.db.read() as conn:
            return [{"id": r.id, "name": r.name, "user": r.user_name, "team": r.team_id, "scopes": r.scopes.split(),
                     "created_at": r.created_at, "revoked": r.revoked_at is not None}
                    for r in conn.execute(query)]

    def revoke(self, token_id: str, *, team: str | None = None, by: AuditEntry | None = None) -> bool:
        """Revoke a token (of `team` only, when given: another team's is not found)."""
        with self.db.write() as conn:
            query = tokens.update().where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
            if team is not None:
                query = query.where(tokens.c.team_id == team)
            found = conn.execute(sa.select(tokens.c.team_id).where(tokens.c.id == token_id)).scalar()
            revoked: bool = conn.execute(query.values(revoked_at=time.time())).rowcount > 0
            if revoked:
                record(conn, _by(by, str(found), "token.revoke", token_id, None))
        self.revocations += 1
        return revoked


# Who makes the tokens the server registers itself at start (the admin's, the listener's).
SERVER_START = AuditEntry(actor="stoker", team="", action="", source="start")


def principal_select() -> sa.Select[Any]:
    """A token's row with its user's role in its team (NULL when not a member)."""
    return (sa.select(tokens.c.id, tokens.c.name, tokens.c.scopes, tokens.c.user_name, tokens.c.team_id,
                      memberships.c.role)
            .outerjoin(memberships, sa.and_(memberships.c.team_id == tokens.c.team_id,
                                            memberships.c.user_name == tokens.c.user_name)))


def principal_of(row: Any) -> Principal:
    return Principal(row.id, row.name, frozenset(row.scopes.split()), row.user_name or "", row.team_id, row.role)


def _by(by: AuditEntry | None, team: str, action: str, target: str, detail: dict[str, Any] | None) -> AuditEntry:
    """The audit entry of a token change: `by` (who asked, from where) with what was done."""
    if by is None:
        return AuditEntry(actor="cli", team=team, action=action, target=target, source="cli", detail=detail)
    return AuditEntry(actor=by.actor, team=team, action=action, target=target, source=by.source,
                      token_id=by.token_id, detail=detail)


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
