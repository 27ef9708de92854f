from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from stoker.api.auth import require

router = APIRouter(prefix="/api/v1", tags=["functions"])


@router.get("/functions", summary="The function catalog: every step a pipeline may use",
            dependencies=[Depends(require("read"))])
def list_functions(request: Request) -> dict[str, list[dict[str, Any]]]:
    """Each function with its signature, kind (source, transform, action, write, utility), whether it
    needs Spark, a description and an example step list."""
    return {"functions": request.app.state.services.catalog.describe()}
