from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from stoker.api.auth import require
from stoker.api.deps import CatalogDep

router = APIRouter(prefix="/api/v1", tags=["functions"])


@router.get("/functions", summary="The function catalog: every step a pipeline may use",
            dependencies=[Depends(require("read"))])
def list_functions(catalog: CatalogDep) -> dict[str, list[dict[str, Any]]]:
    """Each function with its signature, kind (source, transform, action, write, utility), whether it
    needs Spark, a description and an example step list."""
    return {"functions": catalog.describe()}
