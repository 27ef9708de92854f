"""Teams over HTTP (docs/teams.md): who am I, the teams, their members and roles, their quotas, and
the tokens of a team. Making a team or changing its quotas is an admin's; a team's members and
tokens are its owners'. A team other than the token's answers 404 to anyone but an admin, as any
other team's resource does."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from stoker.api.audit import source_of
from stoker.api.auth import require
from stoker.api.deps import services_of
from stoker.api.models import Body
from stoker.core.errors import InvalidInput, NotFound
from stoker.core.teams import ROLES
from stoker.store.audit import AuditEntry
from stoker.store.teams import TeamStore
from stoker.store.tokens import SCOPES, Principal, TokenStore

router = APIRouter(prefix="/api/v1", tags=["teams"])

TeamName = Annotated[str, Path(max_length=64, description="a team's name")]
UserName = Annotated[str, Path(max_length=64, description="a user's name")]
Reader = Annotated[Principal, Depends(require("read"))]
Owner = Annotated[Principal, Depends(require("manage"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def _teams(request: Request) -> TeamStore:
    return services_of(request.app).teams


def _tokens(request: Request) -> TokenStore:
    return services_of(request.app).tokens


def _own(principal: Principal, team: str) -> str:
    """`team`, if the principal acts in it (or is an admin); else 404: its existence is not told."""
    if not principal.admin and team != principal.team:
        raise NotFound(f"no team {team!r}")
    return team


class TeamCreate(Body):
    name: str = Field(max_length=64, description="short and URL-safe: a-z, 0-9, '.', '_', '-'")
    description: str = Field("", max_length=1000)


class Quotas(Body):
    max_running_runs: int | None = Field(None, ge=0, le=1_000_000, description="RUNNING runs at once (null: no limit)")
    max_cores: int | None = Field(None, ge=0, le=1_000_000, description="cores across its clusters and container tasks")
    max_memory_mb: int | None = Field(None, ge=0, le=1_000_000_000, description="memory (MiB), likewise")


class MemberRole(Body):
    role: str = Field(description=f"one of {', '.join(ROLES)}", pattern="^(" + "|".join(ROLES) + ")$")


class TokenCreate(Body):
    name: str = Field(min_length=1, max_length=200, description="what the token is for")
    user: str = Field(max_length=64, description="the member it acts for (a new one joins the team)")
    scopes: list[str] = Field(description="of read, submit (owners); worker, ingest, admin (admins only)",
                              min_length=1, max_length=5)
    role: str | None = Field(None, pattern="^(" + "|".join(ROLES) + ")$",
                             description="the user's role in the team (default: kept, or from the scopes)")


@router.get("/me", summary="Who this token acts for: user, team, role, scopes, and the user's teams")
def me(request: Request, principal: Reader) -> dict[str, Any]:
    return {"user": principal.user, "team": principal.team, "role": principal.role, "admin": principal.admin,
            "scopes": sorted(principal.scopes),
            "teams": [m.view() for m in _teams(request).memberships_of(principal.user)]}


@router.get("/teams", summary="Teams: an admin's, every one; anyone else's, those the user belongs to")
def list_teams(request: Request, principal: Reader) -> dict[str, Any]:
    store = _teams(request)
    found = store.all() if principal.admin else store.all(of_user=principal.user)
    return {"teams": [t.view() for t in found]}


@router.post("/teams", status_code=201, summary="Make a team (admins)",
             responses={409: {"description": "a team with this name exists"}})
def create_team(request: Request, body: TeamCreate, _admin: Admin) -> dict[str, Any]:
    return _teams(request).create(body.name, body.description).view()


@router.get("/teams/{team}", summary="A team, its quotas and members", responses={404: {"description": "no such team"}})
def get_team(request: Request, team: TeamName, principal: Reader) -> dict[str, Any]:
    store = _teams(request)
    found = store.get(_own(principal, team))
    return {**found.view(), "members": [m.view() for m in store.members(found.id)]}


@router.put("/teams/{team}/quotas", summary="Set a team's quotas (admins)",
            responses={404: {"description": "no such team"}})
def set_quotas(request: Request, team: TeamName, body: Quotas, _admin: Admin) -> dict[str, Any]:
    return _teams(request).set_quotas(team, max_running_runs=body.max_running_runs, max_cores=body.max_cores,
                                      max_memory_mb=body.max_memory_mb).view()


@router.get("/teams/{team}/members", summary="A team's members and their roles",
            responses={404: {"description": "no such team"}})
def list_members(request: Request, team: TeamName, principal: Reader) -> dict[str, Any]:
    store = _teams(request)
    return {"members": [m.view() for m in store.members(store.get(_own(principal, team)).id)]}


@router.put("/teams/{team}/members/{user}", summary="Add a member, or change a member's role (owners)",
            responses={404: {"description": "no such team"},
                       409: {"description": "it would leave the team without an owner"}})
def set_member(request: Request, team: TeamName, user: UserName, body: MemberRole, principal: Owner) -> dict[str, Any]:
    return _teams(request).set_member(_own(principal, team), user, body.role).view()


@router.delete("/teams/{team}/members/{user}", status_code=204, summary="Remove a member (owners)",
               responses={404: {"description": "no such team or member"},
                          409: {"description": "the team's last owner"}})
def remove_member(request: Request, team: TeamName, user: UserName, principal: Owner) -> Response:
    if not _teams(request).remove_member(_own(principal, team), user):
        raise NotFound(f"{user!r} is not a member of team {team!r}")
    return Response(status_code=204)


@router.get("/tokens", summary="The tokens of this team (owners; admins: every team's); never a token itself")
def list_tokens(request: Request, principal: Owner) -> dict[str, Any]:
    return {"tokens": _tokens(request).list(team=None if principal.admin else principal.team)}


@router.post("/tokens", status_code=201, summary="Make a token for a member of this team (owners); shown once",
             responses={409: {"description": "the user already holds a live token of this team"},
                        422: {"description": "a scope an owner may not give, or a bad user name"}})
async def create_token(request: Request, body: TokenCreate, principal: Owner) -> dict[str, Any]:
    bad = [s for s in body.scopes if s not in SCOPES]
    if bad:
        raise InvalidInput(f"unknown scope(s) {bad}; choose from {', '.join(SCOPES)}", field="scopes")
    beyond = [s for s in body.scopes if s not in ("read", "submit")]
    if beyond and not principal.admin:
        raise InvalidInput(f"only an admin may give the scope(s) {beyond}", field="scopes")
    by = AuditEntry(actor=principal.user, team=principal.team, action="token.create",
                    source=source_of(request.scope), token_id=principal.token_id)
    token = await run_in_threadpool(lambda: _tokens(request).create(
        body.name, body.scopes, user=body.user, team=principal.team, role=body.role, by=by))
    return {"token": token, "user": body.user, "team": principal.team, "scopes": sorted(set(body.scopes))}


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a token of this team (owners)",
               responses={404: {"description": "no such token in this team"}})
def revoke_token(request: Request, token_id: Annotated[str, Path(max_length=64)], principal: Owner) -> Response:
    by = AuditEntry(actor=principal.user, team=principal.team, action="token.revoke",
                    source=source_of(request.scope), token_id=principal.token_id)
    if not _tokens(request).revoke(token_id, team=None if principal.admin else principal.team, by=by):
        raise NotFound(f"no live token {token_id!r} in this team")
    return Response(status_code=204)
