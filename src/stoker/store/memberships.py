"""Who belongs to which team, inside a caller's transaction: shared by the team store and the token
store (a token's user joins its team)."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stoker.core.teams import DEFAULT_TEAM
from stoker.store.tables import memberships, teams


def team_exists(conn: Connection, team: str) -> bool:
    return conn.execute(sa.select(teams.c.id).where(teams.c.id == team)).first() is not None


def upsert_membership(conn: Connection, team: str, user: str, role: str, *, source: str = "manual",
                      only_if_missing: bool = False) -> None:
    """Give `user` `role` in `team` (inside the caller's transaction)."""
    now = time.time()
    found = conn.execute(sa.select(memberships.c.role).where(
        memberships.c.team_id == team, memberships.c.user_name == user)).first()
    if found is None:
        conn.execute(memberships.insert().values(team_id=team, user_name=user, role=role, source=source,
                                                 created_at=now, updated_at=now))
    elif not only_if_missing and found.role != role:
        conn.execute(memberships.update().where(memberships.c.team_id == team, memberships.c.user_name == user)
                     .values(role=role, source=source, updated_at=now))


def ensure_default_team(conn: Connection) -> None:
    """The default team always exists: made here when missing (a database emptied by hand)."""
    if not team_exists(conn, DEFAULT_TEAM):
        conn.execute(teams.insert().values(id=DEFAULT_TEAM, description="the default team", created_at=time.time()))
