"""The Sate API (seed-apis.md §5) as a thin adapter: a processing request is a run (of the job
`sate`: no automatic retries, at most 3 failures), an execution is one attempt of it.

The gateway rules hold in the database: the request row is locked while an execution is created,
the run is re-queued by one conditional UPDATE (RunStore.retry_in), and a refusal because the
failures are used up is written to the dead-letter list and the outbox in the same transaction.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse

from stoker.api.auth import require
from stoker.compat.sate_tables import sate_executions, sate_requests
from stoker.core.errors import StokerError
from stoker.core.states import attempt_id_for
from stoker.services import Services
from stoker.store.runs import NewRun
from stoker.store.tables import attempts
from stoker.store.tables import runs as run_table
from stoker.submission import lane_of, substitute_params

router = APIRouter(tags=["Sate API"])

SATE_JOB = "sate"
SATE_POLICY = {"auto_retry": False, "max_attempts": 3, "max_concurrent_runs": 16, "backoff_seconds": 0,
               "description": "Sate processing requests (executions are created by the client)"}
FORCED = ["fail", "force_error: this execution was asked to fail"]


def _message(status: int, text: str) -> JSONResponse:
    return JSONResponse({"message": text}, status_code=status)


def _sate_time(ts: float | None) -> str | None:
    """Sate's timestamps: '2020-11-07 16:31:58.103057' (UTC)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def steps_for(services: Services, payload: dict[str, Any]) -> list[Any]:
    """What a payload runs: its own `steps`, a registered `job` (the payload as parameters), or the
    built-in ping processor."""
    if "steps" in payload:
        steps = payload["steps"]
    elif "job" in payload:
        job = services.runs.jobs.get(str(payload["job"]))
        params = payload.get("params", payload)
        steps = substitute_params(job["spec"].get("steps", []), params if isinstance(params, dict) else {})
    else:
        steps = [["sate_ping", payload]]
    services.catalog.validate(steps, services.roots)
    return list(steps)


@router.post("/requests", status_code=201, summary="Create a processing request",
             dependencies=[Depends(require("submit"))], response_model=None)
def create_request(request: Request, body: Any = Body(..., examples=[{"payload": {"message": "ping"}}])
                   ) -> JSONResponse | dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("payload"), dict):
        return _message(422, 'the body must be {"payload": {...}} with an object as payload')
    services = request.app.state.services
    try:
        steps_for(services, body["payload"])
    except StokerError as exc:
        return _message(exc.status_code, exc.message)
    except Exception as exc:  # catalog refusals (422/400) in Sate's error shape
        return _message(getattr(exc, "status_code", 422), f"the payload cannot be processed: {exc}")
    request_id = str(uuid.uuid4())
    with services.db.write() as conn:
        conn.execute(sate_requests.insert().values(id=request_id, payload=body["payload"],
                                                   created_at=time.time()))
    return {"id": request_id, "payload": body["payload"]}


@router.post("/requests/{request_id}/executions", status_code=201, summary="Execute a processing request",
             dependencies=[Depends(require("submit"))], response_model=None,
             responses={404: {"description": "unknown request"},
                        409: {"description": "an execution is active, the request already succeeded, "
                                             "or it failed too often (published as a dead letter)"}})
def create_execution(request_id: str, request: Request, body: Any = Body(default=None)
                     ) -> JSONResponse | dict[str, Any]:
    body = body if body is not None else {}
    if not isinstance(body, dict) or not isinstance(body.get("force_error", False), bool):
        return _message(422, 'the body must be {"force_error": true|false}')
    force_error = body.get("force_error", False)
    services = request.app.state.services
    runs = services.runs
    now = time.time()
    with services.db.write() as conn:
        req = conn.execute(sa.select(sate_requests).where(sate_requests.c.id == request_id)
                           .with_for_update()).first()
        if req is None:
            return _message(404, f"processing request {request_id} does not exist")
        steps = steps_for(services, req.payload)
        if force_error:
            steps = [FORCED, *steps]
        if req.run_id is None:
            job_row = runs.jobs.ensure(conn, SATE_JOB, **SATE_POLICY)
            [submitted] = runs.submit_in(conn, job_row, [NewRun(steps=steps, lane=lane_of(steps),
                                                                params={"request_id": request_id},
                                                                idempotency_key=request_id)])
            run_id, number, refusal = submitted.run_id, 1, None
            conn.execute(sate_requests.update().where(sate_requests.c.id == request_id)
                         .values(run_id=run_id))
        else:
            run_id = req.run_id
            refusal = runs.retry_in(conn, run_id, steps=steps, lane=lane_of(steps))
            number = conn.execute(sa.select(run_table.c.attempt_count)
                                  .where(run_table.c.id == run_id)).scalar_one() + 1
        if refusal is None:
            execution_id = attempt_id_for(run_id, number)
            conn.execute(sate_executions.insert().values(
                id=execution_id, request_id=request_id, number=number, force_error=force_error,
                created_at=now))
    if refusal is not None:
        return _message(409, _sate_refusal(refusal, request_id))
    runs.wake_local()
    return _execution_view(execution_id, force_error, now, request_id, req.payload)


def _sate_refusal(refusal: StokerError, request_id: str) -> str:
    details = refusal.details
    if "results" in details:
        return (f"processing request {request_id} was already processed successfully and is never "
                f"processed again; its results: /requests/{request_id}/results")
    if "active_attempt" in details:
        return (f"processing request {request_id} has an execution in progress; wait for its result "
                f"at /requests/{request_id}/results before executing it again")
    return (f"processing request {request_id} failed the maximum number of times and will not be "
            f"executed again; this refused execution was published to the dead-letter topic")


def _execution_view(execution_id: str, force_error: bool, created_at: float, request_id: str,
                    payload: dict[str, Any]) -> dict[str, Any]:
    return {"id": execution_id, "force_error": force_error, "creation_date": _sate_time(created_at),
            "processing_request": {"id": request_id, "payload": payload}}


def _results(services: Services, *, request_id: str | None = None,
             execution_id: str | None = None) -> list[dict[str, Any]]:
    query = (sa.select(sate_executions, sate_requests.c.payload, attempts.c.outcome, attempts.c.started_at,
                       attempts.c.finished_at, attempts.c.result)
             .join(sate_requests, sate_requests.c.id == sate_executions.c.request_id)
             .join(attempts, attempts.c.id == sate_executions.c.id)
             .where(attempts.c.outcome.is_not(None)))
    if request_id is not None:
        query = query.where(sate_executions.c.request_id == request_id)
    if execution_id is not None:
        query = query.where(sate_executions.c.id == execution_id)
    with services.db.read() as conn:
        rows = conn.execute(query.order_by(sate_executions.c.number)).all()
    return [{
        "id": r.id, "is_success": r.outcome == "succeeded",
        "processing_start_time": _sate_time(r.started_at), "processing_end_time": _sate_time(r.finished_at),
        "processing_total_seconds": round(r.finished_at - r.started_at, 6),
        "outputs": _outputs(r.result) if r.outcome == "succeeded" else {},
        "execution": _execution_view(r.id, r.force_error, r.created_at, r.request_id, r.payload),
    } for r in rows]


def _outputs(result: Any) -> Any:
    if isinstance(result, dict) and result.get("type") == "outputs":
        return result["outputs"]
    return result or {}


@router.get("/requests/{request_id}/results", summary="Results of a processing request's executions",
            dependencies=[Depends(require("read"))], response_model=None)
def request_results(request_id: str, request: Request) -> JSONResponse | dict[str, Any]:
    services = request.app.state.services
    with services.db.read() as conn:
        exists = conn.execute(sa.select(sate_requests.c.id).where(sate_requests.c.id == request_id)).first()
    if exists is None:
        return _message(404, f"processing request {request_id} does not exist")
    return {"results": _results(services, request_id=request_id)}


@router.get("/executions/{execution_id}/results", summary="The result of one execution",
            dependencies=[Depends(require("read"))], response_model=None)
def execution_results(execution_id: str, request: Request) -> JSONResponse | dict[str, Any]:
    services = request.app.state.services
    results = _results(services, execution_id=execution_id)
    if not results:
        with services.db.read() as conn:
            known = conn.execute(sa.select(sate_executions.c.id)
                                 .where(sate_executions.c.id == execution_id)).first()
        if known is None:
            return _message(404, f"execution {execution_id} does not exist")
        return _message(404, f"execution {execution_id} has no result yet")
    return {"results": results}
