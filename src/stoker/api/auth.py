"""Bearer-token auth with scopes, as a FastAPI dependency: 401 without a valid token, 403 without the scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence

from fastapi import Depends, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from stoker.store.tokens import Principal

_bearer = HTTPBearer(auto_error=False, description="A Stoker API token: `Authorization: Bearer stk_…`")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False,
                        description="The same token, for clients that send X-API-Key")
# The Big Data PaaS's clients (seed-apis.md §2) send their token as X-Auth-Token.
_auth_token = APIKeyHeader(name="X-Auth-Token", auto_error=False,
                           description="The same token, as the PaaS's clients sent it")


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    # Async, so a request whose token is cached (nearly all) is checked on the event loop: a sync
    # dependency costs every request a hop to the thread pool and back.
    async def dependency(request: Request,
                   bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
                   api_key: str | None = Depends(_api_key),
                   auth_token: str | None = Depends(_auth_token)) -> Principal:
        services = request.app.state.services
        token = bearer.credentials if bearer is not None else (api_key or auth_token)
        if not token:
            anonymous = services.settings.anonymous_scopes
            if scope in anonymous or "admin" in anonymous:
                return Principal("anonymous", "anonymous", frozenset(anonymous))
            raise HTTPException(401, "missing API token: send 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})
        found, principal = services.token_cache.cached(token)
        if not found:
            principal = await run_in_threadpool(services.token_cache.lookup, token)
        if principal is None:
            raise HTTPException(401, "invalid or revoked API token", headers={"WWW-Authenticate": "Bearer"})
        if not principal.allows(scope):
            raise HTTPException(403, f"this token lacks the '{scope}' scope "
                                     f"(it has: {', '.join(sorted(principal.scopes))})")
        allowed: Principal = principal
        return allowed

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
