"""A job's tuning page (docs/tuning.md): core-seconds, CPU-seconds and duration of each profiled run,
as written and with a trial's settings, charted side by side; the trials with their evidence,
prediction and verdict. The same view as GET /api/v1/jobs/{job}/tuning."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from stoker.api.deps import JobStoreDep, TuningStoreDep
from stoker.api.tuning import tuning_view
from stoker.store.ui_sessions import UiSession
from stoker.ui.render import render
from stoker.ui.session import current_session

router = APIRouter(prefix="/ui", include_in_schema=False)

CHARTS = (("core_s", "Allocated core-seconds"), ("cpu_s", "CPU-seconds"), ("duration_s", "Duration (s)"))


@router.get("/jobs/{name}/tuning", response_class=HTMLResponse)
def tuning_page(name: str, request: Request, jobs: JobStoreDep, store: TuningStoreDep,
                session: UiSession = Depends(current_session)) -> HTMLResponse:
    view = tuning_view(jobs.get(name, session.principal.sees), store)
    return render(request, "tuning.html", session, view=view,
                  charts=[(key, title, orjson.dumps(series(view["runs"], key)).decode()) for key, title in CHARTS])


def series(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """One figure per run, in run order: as written (no trial) and tuned (a trial's settings) apart,
    so the chart shows before and after; `trial` numbers the runs of each trial."""
    shown = [r for r in runs if r[key] is not None]
    return {"x": list(range(1, len(shown) + 1)),
            "written": [r[key] if r["trial"] is None else None for r in shown],
            "tuned": [r[key] if r["trial"] is not None else None for r in shown],
            "trial": [r["trial"] for r in shown]}
