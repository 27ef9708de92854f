"""Bearer-token auth with scopes and team roles, as a FastAPI dependency: the one place that decides
whether a request may do what its route does. 401 without a valid token; 403 without the scope, or
when the token's user has too small a role in its team (the role table: core/teams.py `NEEDS`).
Which team's resources a request reaches is the store's business: each query is filtered by the
principal's team (another team's resource is not found)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.routing import BaseRoute

from stoker.api.deps import services_of
from stoker.core.teams import DEFAULT_TEAM, NEEDS, Need, role_for_scopes
from stoker.store.tokens import Principal

if TYPE_CHECKING:
    from stoker.services import Services

# The ways a client may send its token, as the OpenAPI document names them (api/openapi.py adds
# them to every guarded operation). They are read straight from the headers by `require`: as
# FastAPI security dependencies they cost three more dependency resolutions per request.
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "HTTPBearer": {"type": "http", "scheme": "bearer",
                   "description": "A Stoker API token: `Authorization: Bearer stk_…`"},
    "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                     "description": "The same token, for clients that send X-API-Key"},
    # The Big Data PaaS's clients (seed-apis.md §2) send their token as X-Auth-Token.
    "AuthTokenHeader": {"type": "apiKey", "in": "header", "name": "X-Auth-Token",
                        "description": "The same token, as the PaaS's clients sent it"},
}


def token_of(headers: Headers) -> str | None:
    """The token a request carries: `Authorization: Bearer <token>` first (another scheme there is
    no token), else X-API-Key, else X-Auth-Token; an empty header is no token."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and credentials:
            return credentials
    return headers.get("x-api-key") or headers.get("x-auth-token") or None


async def authorize(services: Services, headers: Headers, need: str) -> Principal:
    """The principal of a request's token, if it may do what `need` (a name in core/teams.py
    `NEEDS`) asks: 401 without a valid token, 403 without the scope or the role. A cached token
    (nearly all) is checked right here on the event loop; a new one is looked up in the thread pool."""
    wanted = NEEDS[need]
    token = token_of(headers)
    if not token:
        anonymous = frozenset(services.settings.anonymous_scopes)
        if wanted.scope in anonymous or "admin" in anonymous:
            guest = Principal("anonymous", "anonymous", anonymous, "anonymous", DEFAULT_TEAM,
                              role_for_scopes(anonymous))
            refuse_unless_allowed(guest, wanted)
            return guest
        raise HTTPException(401, "missing API token: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    found, principal, _hash = services.token_cache.cached(token)
    if not found:
        principal = await run_in_threadpool(services.token_cache.lookup, token)
    if principal is None:
        raise HTTPException(401, "invalid or revoked API token", headers={"WWW-Authenticate": "Bearer"})
    allowed: Principal = principal
    refuse_unless_allowed(allowed, wanted)
    return allowed


def refuse_unless_allowed(principal: Principal, need: Need) -> None:
    """403 unless the principal has the need's scope and, in its team, at least the need's role."""
    if not principal.allows(need.scope):
        raise HTTPException(403, f"this token lacks the '{need.scope}' scope "
                                 f"(it has: {', '.join(sorted(principal.scopes))})")
    if not principal.may(need.role):
        has = f"is '{principal.role}'" if principal.role else "is none (not a member)"
        raise HTTPException(403, f"this needs the role '{need.role}' or above in team '{principal.team}' "
                                 f"({need.what}); the role of user '{principal.user}' there {has}")


def require(need: str) -> Callable[..., Awaitable[Principal]]:
    """The dependency of a route that needs `need` (core/teams.py `NEEDS`: read, run, edit, manage,
    admin, worker, ingest; `submit` is edit). The principal is also left on `request.state` for the
    audit log (api/audit.py)."""
    wanted = NEEDS[need]  # an unknown name fails at import, not at the first request

    # Async, so a request whose token is cached (nearly all) is checked on the event loop: a sync
    # dependency costs every request a hop to the thread pool and back.
    async def dependency(request: Request) -> Principal:
        principal = await authorize(services_of(request.app), request.headers, wanted.name)
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{need}"
    dependency.scope = wanted.scope  # type: ignore[attr-defined]  # read by scope_of(), and the route-guard test
    dependency.need = wanted.name  # type: ignore[attr-defined]  # read by need_of(), and the route matrix test
    return dependency


def need_of(call: object) -> str | None:
    """The need (core/teams.py) a dependency made by `require` declares (None for any other)."""
    need = getattr(call, "need", None)
    return need if isinstance(need, str) else None


def scope_of(call: object) -> str | None:
    """The scope a dependency made by `require` demands (None for any other callable)."""
    scope = getattr(call, "scope", None)
    return scope if isinstance(scope, str) else None


def route_scopes(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, list[str], set[str]]]:
    """(path, methods, scopes demanded) of every route, included routers flattened: the one walk
    that the OpenAPI error documentation and the route-guard test share."""
    for route in iter_route_contexts(routes):
        if route.path is None:
            continue
        dependant = getattr(route, "dependant", None)
        yield route.path, sorted(route.methods or []), set(_scopes(dependant)) if dependant else set()


def route_needs(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, list[str], set[str]]]:
    """(path, methods, needs declared) of every route, like `route_scopes`."""
    for route in iter_route_contexts(routes):
        if route.path is None:
            continue
        dependant = getattr(route, "dependant", None)
        yield route.path, sorted(route.methods or []), set(_needs(dependant)) if dependant else set()


def _needs(dependant: Dependant) -> Iterator[str]:
    for dep in dependant.dependencies:
        need = need_of(dep.call)
        if need is not None:
            yield need
        yield from _needs(dep)


def _scopes(dependant: Dependant) -> Iterator[str]:
    for dep in dependant.dependencies:
        scope = scope_of(dep.call)
        if scope is not None:
            yield scope
        yield from _scopes(dep)


# The principal of a route that needs so much, as a parameter: `principal: Reader` (its team's
# reads: `principal.sees`; what it makes: `principal.team`).
Reader = Annotated[Principal, Depends(require("read"))]
Runner = Annotated[Principal, Depends(require("run"))]
Editor = Annotated[Principal, Depends(require("edit"))]
