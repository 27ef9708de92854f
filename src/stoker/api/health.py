from __future__ import annotations

from fastapi import APIRouter, Request

from stoker import __version__

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and database reachability (no auth)")
def healthz(request: Request) -> dict[str, object]:
    services = request.app.state.services
    import sqlalchemy as sa

    with services.db.read() as conn:
        conn.execute(sa.text("SELECT 1"))
    return {"status": "ok", "version": __version__,
            "database": "sqlite" if services.db.is_sqlite else "postgresql"}
