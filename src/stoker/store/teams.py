"""Teams and memberships (docs/teams.md): which users belong to which team, with which role.

The role table itself (what a role may do) is `core/teams.py`; this is who has which role where.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stoker.core.errors import Conflict, InvalidInput, NotFound
from stoker.core.teams import DEFAULT_TEAM, check_role, check_team_name
from stoker.store.db import Database
from stoker.store.memberships import ensure_default_team, team_exists, upsert_membership
from stoker.store.tables import memberships, teams
from stoker.store.tokens import check_user_name


@dataclass(frozen=True)
class Team:
    id: str
    description: str
    max_running_runs: int | None
    max_cores: int | None
    max_memory_mb: int | None
    created_at: float

    def view(self) -> dict[str, object]:
        return {"id": self.id, "description": self.description, "created_at": self.created_at,
                "quotas": {"max_running_runs": self.max_running_runs, "max_cores": self.max_cores,
                           "max_memory_mb": self.max_memory_mb}}


@dataclass(frozen=True)
class Membership:
    team: str
    user: str
    role: str
    source: str
    updated_at: float

    def view(self) -> dict[str, object]:
        return {"team": self.team, "user": self.user, "role": self.role, "source": self.source,
                "updated_at": self.updated_at}


def _team(row: sa.Row[tuple[object, ...]]) -> Team:
    return Team(row.id, row.description, row.max_running_runs, row.max_cores, row.max_memory_mb, row.created_at)


def _membership(row: sa.Row[tuple[object, ...]]) -> Membership:
    return Membership(row.team_id, row.user_name, row.role, row.source, row.updated_at)


class TeamStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_default(self, admin_user: str) -> None:
        """The default team, with `admin_user` its owner: `make run` needs no set-up."""
        with self.db.write() as conn:
            ensure_default_team(conn)
            upsert_membership(conn, DEFAULT_TEAM, admin_user, "owner", only_if_missing=True)

    def create(self, name: str, description: str = "") -> Team:
        check_team_name(name)
        with self.db.write() as conn:
            if team_exists(conn, name):
                raise Conflict(f"team {name!r} exists", field="team")
            conn.execute(teams.insert().values(id=name, description=description, created_at=time.time()))
            row = conn.execute(sa.select(teams).where(teams.c.id == name)).one()
        return _team(row)

    def get(self, name: str) -> Team:
        with self.db.read() as conn:
            row = conn.execute(sa.select(teams).where(teams.c.id == name)).first()
        if row is None:
            raise NotFound(f"no team {name!r}")
        return _team(row)

    def all(self, *, of_user: str | None = None) -> list[Team]:
        """Every team, or the teams `of_user` belongs to."""
        query = sa.select(teams).order_by(teams.c.id)
        if of_user is not None:
            query = query.where(teams.c.id.in_(
                sa.select(memberships.c.team_id).where(memberships.c.user_name == of_user)))
        with self.db.read() as conn:
            return [_team(r) for r in conn.execute(query)]

    def set_quotas(self, name: str, *, max_running_runs: int | None, max_cores: int | None,
                   max_memory_mb: int | None) -> Team:
        for field, value in (("max_running_runs", max_running_runs), ("max_cores", max_cores),
                             ("max_memory_mb", max_memory_mb)):
            if value is not None and value < 0:
                raise InvalidInput(f"{field} must be 0 or more (or null: no limit)", field=field)
        with self.db.write() as conn:
            changed = conn.execute(teams.update().where(teams.c.id == name).values(
                max_running_runs=max_running_runs, max_cores=max_cores, max_memory_mb=max_memory_mb)).rowcount
            if not changed:
                raise NotFound(f"no team {name!r}")
            return _team(conn.execute(sa.select(teams).where(teams.c.id == name)).one())

    def members(self, team: str) -> list[Membership]:
        with self.db.read() as conn:
            return [_membership(r) for r in conn.execute(
                sa.select(memberships).where(memberships.c.team_id == team).order_by(memberships.c.user_name))]

    def memberships_of(self, user: str) -> list[Membership]:
        with self.db.read() as conn:
            return [_membership(r) for r in conn.execute(
                sa.select(memberships).where(memberships.c.user_name == user).order_by(memberships.c.team_id))]

    def role_of(self, team: str, user: str) -> str | None:
        with self.db.read() as conn:
            role: str | None = conn.execute(sa.select(memberships.c.role).where(
                memberships.c.team_id == team, memberships.c.user_name == user)).scalar()
        return role

    def set_member(self, team: str, user: str, role: str, *, source: str = "manual") -> Membership:
        check_role(role)
        check_user_name(user)
        with self.db.write() as conn:
            if not team_exists(conn, team):
                raise NotFound(f"no team {team!r}")
            self._keep_an_owner(conn, team, user, role)
            upsert_membership(conn, team, user, role, source=source)
            return _membership(conn.execute(sa.select(memberships).where(
                memberships.c.team_id == team, memberships.c.user_name == user)).one())

    def remove_member(self, team: str, user: str) -> bool:
        with self.db.write() as conn:
            self._keep_an_owner(conn, team, user, None)
            removed: bool = conn.execute(memberships.delete().where(
                memberships.c.team_id == team, memberships.c.user_name == user)).rowcount > 0
        return removed

    def sync_from_provider(self, user: str, grants: dict[str, str]) -> None:
        """Make `user`'s memberships that came from the OIDC provider what its groups say now: teams
        named by the group mapping are made if missing (an admin configured them), roles set, and the
        provider's memberships of teams its groups no longer name removed (manual ones stay)."""
        check_user_name(user)
        now = time.time()
        with self.db.write() as conn:
            for team, role in grants.items():
                check_team_name(team)
                if not team_exists(conn, team):
                    conn.execute(teams.insert().values(id=team, description="made by OIDC sign-in", created_at=now))
                upsert_membership(conn, team, user, role, source="oidc")
            conn.execute(memberships.delete().where(
                memberships.c.user_name == user, memberships.c.source == "oidc",
                memberships.c.team_id.not_in(list(grants) or [""])))

    @staticmethod
    def _keep_an_owner(conn: Connection, team: str, user: str, role: str | None) -> None:
        """A team keeps at least one owner: its last one can be neither demoted nor removed."""
        if role == "owner":
            return
        owners = set(conn.execute(sa.select(memberships.c.user_name).where(
            memberships.c.team_id == team, memberships.c.role == "owner")).scalars())
        if owners == {user}:
            raise Conflict(f"{user!r} is the last owner of team {team!r}: make another member owner first",
                           field="role")
