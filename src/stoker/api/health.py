"""Liveness for load balancers and probes: answered on the event loop from the latest database
check, so a probe never waits in the thread pool behind busy requests and never adds a database
round trip of its own more than once a second."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from stoker import __version__
from stoker.api.deps import DatabaseDep

router = APIRouter(tags=["health"])

CHECK_EVERY_SECONDS = 1.0


@router.get("/healthz", summary="Liveness and database reachability (no auth); 503 when the database "
                                "does not answer", responses={503: {"description": "the database is unreachable"}})
async def healthz(request: Request, response: Response, db: DatabaseDep) -> dict[str, object]:
    state = request.app.state  # the latest check, kept on the app
    checked_at: float = getattr(state, "health_checked_at", 0.0)
    if time.monotonic() - checked_at >= CHECK_EVERY_SECONDS:
        try:
            await run_in_threadpool(db.ping)
            state.health_ok = True
        except Exception:  # any failure to reach the database is what this endpoint reports
            state.health_ok = False
        state.health_checked_at = checked_at = time.monotonic()
    ok: bool = getattr(state, "health_ok", False)
    if not ok:
        response.status_code = 503
    return {"status": "ok" if ok else "database unreachable", "version": __version__,
            "database": "sqlite" if db.is_sqlite else "postgresql",
            "checked_seconds_ago": round(time.monotonic() - checked_at, 3)}
