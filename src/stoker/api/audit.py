"""The audit log over HTTP: the middleware that records every change made through the API, the UI
and the seed APIs (who, when, from where, what, and the answer), and `GET /api/v1/audit`.

Recorded: every request that may change something (any method but GET, HEAD and OPTIONS) by an
identified principal, with the route's template as the action, the path as the target and the
status it was answered with, refusals included. The middleware reads the principal the request's
authorization left on `request.state` (api/auth.py `require`, the UI's session); a quick route
(api/fastpath.py) leaves none, so its token is looked up in the token cache, where the
authorization just put it. Entries go to the app's `AuditWriter` (store/audit.py): in batches, off
the request's path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stoker.api.auth import require, token_of
from stoker.api.deps import services_of
from stoker.api.paging import PageSize
from stoker.store.audit import AuditEntry, AuditLog, AuditWriter
from stoker.store.tokens import Principal

READS = frozenset({"GET", "HEAD", "OPTIONS"})
NDJSON = "application/x-ndjson"


def writer_of(scope_or_app: Any) -> AuditWriter:
    writer: AuditWriter = scope_or_app.state.audit_writer
    return writer


def source_of(scope: Scope) -> str | None:
    """Where a request came from: the peer's address (a proxy's own header is not trusted)."""
    client = scope.get("client")
    return f"{client[0]}" if client else None


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READS:
            await self.app(scope, receive, send)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            await self._record(scope, status or 500)

    async def _record(self, scope: Scope, status: int) -> None:
        principal = await _principal_of(scope)
        if principal is None:
            return  # nobody to name: refused as unauthenticated, nothing changed
        route = scope.get("route")
        template = getattr(route, "path", None) or scope["path"]
        params = scope.get("path_params") or None
        writer_of(scope["app"]).add(AuditEntry(
            actor=principal.user or principal.name, team=principal.team, action=f"{scope['method']} {template}",
            target=scope["path"], source=source_of(scope), token_id=principal.token_id, status=status,
            detail={"params": params} if params else None))


async def _principal_of(scope: Scope) -> Principal | None:
    principal = scope.get("state", {}).get("principal")
    if isinstance(principal, Principal):
        return principal
    token = token_of(Headers(scope=scope))
    if not token:
        return None
    services = services_of(scope["app"])
    found, cached, _hash = services.token_cache.cached(token)
    if found:
        return cached
    looked_up: Principal | None = await run_in_threadpool(services.token_cache.lookup, token)
    return looked_up


router = APIRouter(prefix="/api/v1", tags=["audit"])


def _audit_log(request: Request) -> AuditLog:
    return services_of(request.app).audit


@router.get("/audit", summary="The audit log: who did what, when, from where (owners: their team's; admins: all)",
            response_model=None,
            responses={200: {"description": "entries oldest first, as JSON, or as NDJSON (one entry a line) "
                                            "with `format=ndjson` or `Accept: application/x-ndjson`",
                             "content": {NDJSON: {}}}})
async def audit(request: Request, principal: Annotated[Principal, Depends(require("manage"))],
                after: int = Query(0, ge=0, le=10**18, description="only entries after this seq (the last one's)"),
                limit: PageSize = 50,
                actor: str | None = Query(None, max_length=64, description="only this user's acts"),
                action: str | None = Query(None, max_length=100, description="only this action"),
                team: str | None = Query(None, max_length=64, description="admins: only this team's"),
                since: float | None = Query(None, ge=0, le=1e12,
                                            description="only entries at or after this epoch time"),
                format: str | None = Query(None, pattern="^(json|ndjson)$",
                                           description="`ndjson`: every entry, one a line")) -> Any:
    """Owners see their own team's entries; admins every team's (or one, with `team`). Flushes what
    this process still holds first, so an act shows in the log as soon as its answer came back."""
    of_team = (team if team else None) if principal.admin else principal.team
    writer = writer_of(request.app)
    log = _audit_log(request)
    await run_in_threadpool(writer.flush)
    if format == "ndjson" or (format is None and NDJSON in request.headers.get("accept", "")):
        def lines() -> Iterator[bytes]:
            for entry in log.export(team=of_team, since=since):
                if (actor is None or entry.actor == actor) and (action is None or entry.action == action):
                    yield orjson.dumps(entry.view()) + b"\n"

        return StreamingResponse(lines(), media_type=NDJSON)
    entries = await run_in_threadpool(lambda: log.query(team=of_team, after=after, limit=limit, actor=actor,
                                                        action=action, since=since))
    return {"entries": [e.view() for e in entries],
            "next_after": entries[-1].seq if len(entries) == limit else None}
