"""Teams and roles: who may do what, as one table (docs/teams.md). Pure: the store keeps teams and
memberships, `api/auth.py` applies these rules to every request.

A user belongs to teams with a role; a token acts for one user in one team. A route declares what
it needs by name (`NEEDS`): the token's scope, and the user's role in the token's team. A server
admin (the `admin` scope) passes every check, in every team. The machine scopes (`worker`,
`ingest`) ask for no role: a worker serves every team, an ingest token is bound to its team by the
resources it reaches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stoker.core.errors import InvalidInput

# Ordered: each role may do everything the ones before it may.
ROLES = ("viewer", "runner", "editor", "owner")
DEFAULT_TEAM = "default"

_TEAM_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class Need:
    """What a route needs: a scope of the token and, unless None, at least this role in its team."""

    name: str
    scope: str
    role: str | None
    what: str  # for the docs and the 403 message

    def __post_init__(self) -> None:
        if self.role is not None and self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")


# The role table. A route names one of these in `require(...)`; the route matrix test
# (tests/integration/test_route_matrix.py) holds every operation to the need it should declare.
NEEDS: dict[str, Need] = {n.name: n for n in (
    Need("read", "read", "viewer", "read the team's jobs, runs, results, events, files"),
    Need("run", "submit", "runner", "run existing jobs, cancel and retry runs"),
    Need("edit", "submit", "editor", "create and change jobs, clusters, tasks, secrets, files"),
    Need("manage", "submit", "owner", "the team's members, tokens, webhooks and audit log"),
    Need("admin", "admin", None, "the server: teams, products, hosts; sees every team"),
    Need("worker", "worker", None, "the worker protocol (claims attempts of every team)"),
    Need("ingest", "ingest", None, "post Spark events (into the token's team)"),
)}
# `require("submit")` names what changing a thing needs, as routes written before teams said it.
NEEDS["submit"] = NEEDS["edit"]


def rank(role: str | None) -> int:
    """A role's place in ROLES (-1: no role)."""
    return ROLES.index(role) if role in ROLES else -1


def role_allows(role: str | None, needed: str | None) -> bool:
    return needed is None or rank(role) >= rank(needed)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}", field="role")
    return role


def check_team_name(name: str) -> str:
    if not isinstance(name, str) or not _TEAM_NAME.match(name):
        raise InvalidInput(f"team name {name!r} must be 1-63 characters of a-z, 0-9, '.', '_' or '-', "
                           "starting with a letter or digit (it appears in URLs)", field="team")
    return name


def role_for_scopes(scopes: frozenset[str] | set[str] | list[str]) -> str:
    """The role a token of before teams gets in the default team: what its scopes let it do."""
    scopes = set(scopes)
    if "admin" in scopes:
        return "owner"
    if "submit" in scopes:
        return "editor"
    return "viewer"


def parse_group_map(text: str) -> dict[str, tuple[str, str]]:
    """`group=team:role, …` (STOKER_OIDC_GROUPS) → {group: (team, role)}; team `*` with role `admin`
    makes the group's members server admins."""
    mapping: dict[str, tuple[str, str]] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        group, eq, target = item.partition("=")
        team, colon, role = target.partition(":")
        group, team, role = group.strip(), team.strip(), role.strip()
        if not eq or not colon or not group:
            raise ValueError(f"OIDC group mapping {item!r} is not group=team:role")
        if team == "*" and role == "admin":
            mapping[group] = (team, role)
            continue
        check_team_name(team)
        check_role(role)
        mapping[group] = (team, role)
    return mapping
