"""Bearer-token auth with scopes, as a FastAPI dependency: 401 without a valid token, 403 without the scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from fastapi import HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.routing import BaseRoute

from stoker.api.deps import services_of
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


async def authorize(services: Services, headers: Headers, scope: str) -> Principal:
    """The principal of a request's token, if it has `scope`: 401 without a valid token, 403 without
    the scope. A cached token (nearly all) is checked right here on the event loop; a new one is
    looked up in the thread pool."""
    token = token_of(headers)
    if not token:
        anonymous = services.settings.anonymous_scopes
        if scope in anonymous or "admin" in anonymous:
            return Principal("anonymous", "anonymous", frozenset(anonymous), "anonymous")
        raise HTTPException(401, "missing API token: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    found, principal, _hash = services.token_cache.cached(token)
    if not found:
        principal = await run_in_threadpool(services.token_cache.lookup, token)
    if principal is None:
        raise HTTPException(401, "invalid or revoked API token", headers={"WWW-Authenticate": "Bearer"})
    if not principal.allows(scope):
        raise HTTPException(403, f"this token lacks the '{scope}' scope "
                                 f"(it has: {', '.join(sorted(principal.scopes))})")
    allowed: Principal = principal
    return allowed


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    # Async, so a request whose token is cached (nearly all) is checked on the event loop: a sync
    # dependency costs every request a hop to the thread pool and back.
    async def dependency(request: Request) -> Principal:
        return await authorize(services_of(request.app), request.headers, scope)

    dependency.__name__ = f"require_{scope}"
    dependency.scope = scope  # type: ignore[attr-defined]  # read by scope_of(), and the route-guard test
    return dependency


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


def _scopes(dependant: Dependant) -> Iterator[str]:
    for dep in dependant.dependencies:
        scope = scope_of(dep.call)
        if scope is not None:
            yield scope
        yield from _scopes(dep)
