"""Watching a run: its own Spark work (`GET /api/v1/runs/{id}/spark`) and how far it is
(`GET /api/v1/runs/{id}/progress`); the same progress is pushed on the SSE stream of the run
(api/stream.py). Both read the collected events through events/run_work.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from stoker.api.auth import Reader
from stoker.api.deps import DatabaseDep, EventStoreDep, RunStoreDep
from stoker.core import limits
from stoker.core.errors import NotFound
from stoker.events.failures import explain_failure
from stoker.events.run_work import latest_attempt, run_progress, run_spark_view

router = APIRouter(prefix="/api/v1", tags=["runs"])


@router.get("/runs/{run_id}/spark", summary="A run's own Spark work: its jobs, stages, tasks and cores busy",
            responses={404: {"description": "no such run, or no such attempt of it"}})
def run_spark(run_id: str, runs: RunStoreDep, events: EventStoreDep, principal: Reader,
              attempt: int | None = Query(None, ge=1, le=limits.MAX_ATTEMPT_NUMBER,
                                          description="this attempt (default: the latest)")) -> dict[str, Any]:
    """In session mode the jobs of the attempt's job group in the worker's shared Spark application
    (`spark_app.shared`), in submit mode the attempt's own application: jobs, stages with tasks done
    of total, input read, shuffle, spill, failed tasks (the first reasons of each stage), executors
    lost, and the cores busy over the run's time (`cores`). Empty lists until its first events
    arrive; `spark_app` is null for a run that runs no Spark (yet). A failed run's `failure`: the
    step and Spark's message, and `hints` naming the stage, executor and setting to change for
    out-of-memory errors and lost executors."""
    run = runs.get(run_id, team=principal.sees)  # another team's run is not found
    if attempt is not None and latest_attempt(run, attempt) is None:
        raise NotFound(f"run {run_id} has no attempt {attempt}")
    view = run_spark_view(events, run, attempt)
    ran_with = {key: entry["value"] for key, entry in (run.effective_conf or {}).items()}
    view["failure"] = explain_failure(run.error, view, ran_with) if run.state in ("FAILED", "QUEUED") else None
    return view


@router.get("/runs/{run_id}/progress", summary="How far a run is, and an estimate of the time left",
            responses={404: {"description": "no such run"}})
def run_progress_route(run_id: str, runs: RunStoreDep, events: EventStoreDep, db: DatabaseDep,
                       principal: Reader) -> dict[str, Any]:
    """The run's state and, from its latest attempt's Spark events: its current stages with tasks
    done of total, tasks done of those planned so far (`fraction`), rows and bytes read (and every
counter of the Spark view in `totals`: shuffle, spill, GC, failed tasks), elapsed
    seconds and, while it runs, `estimate` of the time left as a range (`low_s`–`high_s`, rounded)
    with what it rests on (`basis`: the job's earlier runs, the pace of the tasks done), or null when
    nothing supports one. Pushed as `run.progress` messages on `GET /api/v1/events/stream?run=ID`."""
    return run_progress(events, db, runs.get(run_id, team=principal.sees))
