"""The Stevedore API (seed-apis.md §3) as a thin adapter: a task is a container job, a result is a
batch of its runs (run N times), a detail is one run. Everything else — idempotent submit,
concurrency limits, retries, the dead-letter list, leases and the reaper — is Stoker's own.

As the original's clients expect: trailing slashes are optional; `name` defaults to the repository;
`operation` defaults to RUN and `times` to 1; a repository registered twice answers 409 naming its
task; POST answers carry a Location header; times are epoch seconds (UTC) and duration = end − start;
errors answer {"message": …}; fields a body has beyond the operation's are ignored (logged at debug),
as the original's README itself sends `repository` beside a RUN; results and details carry the
original's `id` and `command` beside Stoker's fields.

The statuses and the task service are in submission/container_tasks.py (the web UI uses them too).
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from stoker.api.auth import require
from stoker.api.deps import ServicesDep, principal_of
from stoker.core import limits
from stoker.core.errors import InvalidInput, StokerError
from stoker.services import Services
from stoker.store.records.containers import Batch, BatchRun
from stoker.submission.container_tasks import (
    TaskCreate,
    TaskOperation,
    cancel,
    detail_status,
    detail_view,
    find_batch,
    find_detail,
    find_task,
    register,
    result_view,
    run_times,
    task_view,
)

router = APIRouter(tags=["Stevedore API"])
M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)

class ResultOperation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operation: str


def _message(status: int, text: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": text}, status_code=status, headers=headers)


def _parse(model: type[M], body: Any) -> M:
    if body is None:
        body = {}
    if isinstance(body, (bytes, str)):  # clients that sent JSON without `Content-Type: application/json`
        try:
            body = limits.check_json(json.loads(body) if body.strip() else {}, "body")
        except ValueError as exc:  # not JSON, or past a limit (JsonTooBig)
            raise InvalidInput(f"the body is not acceptable JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    unknown = sorted(set(body) - set(model.model_fields))
    if unknown:  # the original read the fields it knew and ignored the rest
        log.debug("Stevedore %s: ignoring unknown field(s) %s", model.__name__, unknown)
        body = {k: v for k, v in body.items() if k in model.model_fields}
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                             for e in exc.errors())
        raise InvalidInput(f"invalid request: {problems}") from exc


def _answer(action: Callable[[], Any]) -> Any:
    """Run an endpoint's action; Stoker's refusals become Stevedore's {"message"} errors."""
    try:
        return action()
    except StokerError as exc:
        return _message(exc.status_code, exc.message)


def _route(method: str, path: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Serve `path` with and without its trailing slash (the slashless twin is not in the docs)."""
    def decorate(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        router.add_api_route(path + "/", endpoint, methods=[method], response_model=None, **kwargs)
        router.add_api_route(path, endpoint, methods=[method], response_model=None,
                             include_in_schema=False, **kwargs)
        return endpoint
    return decorate


def _sees(request: Request) -> str | None:
    """The team whose tasks and results this request reaches (None: an admin's, every team's)."""
    return principal_of(request).sees


def _command(run: BatchRun) -> str | None:
    """The command a run's container was given, as the original's string."""
    command = (run.options.get("container") or {}).get("command")
    if isinstance(command, list):
        return shlex.join(str(part) for part in command)
    return command if isinstance(command, str) else None


def _detail(run: BatchRun) -> dict[str, Any]:
    return {"id": run.id, **detail_view(run), "command": _command(run)}


def _result(services: Services, batch: Batch) -> dict[str, Any]:
    """A result with the original's `id` and `command` (its RUN's, the same for every execution)."""
    first = services.container_jobs.batch_runs(batch.batch_id, limit=1)  # the batch was found in the team
    return {"id": batch.batch_id, **result_view(batch), "command": _command(first[0]) if first else None}


# -- tasks --------------------------------------------------------------------------------------
@_route("GET", "/task", summary="List tasks (Id, Name, and their status)",
        dependencies=[Depends(require("read"))])
def list_tasks(request: Request, services: ServicesDep) -> list[dict[str, Any]]:
    return [task_view(t) for t in services.container_jobs.all(_sees(request))]


@_route("POST", "/task", status_code=201, summary="Register an image as a task; its import starts",
        dependencies=[Depends(require("edit"))],
        responses={409: {"description": "the repository is already a task"},
                   503: {"description": "no container runtime"}})
def create_task(request: Request, services: ServicesDep, body: Any = Body(None,
                examples=[{"repository": "localhost/stoker/busybox:latest",
                                                                    "name": "busybox"}])) -> Any:
    def action() -> JSONResponse:
        job = register(services, _parse(TaskCreate, body), principal_of(request).team)
        return JSONResponse({"task_id": job.id, "status": job.status}, status_code=201,
                            headers={"Location": f"/task/{job.id}/"})
    return _answer(action)


@_route("GET", "/task/{task_id}", summary="A task: its image, status and the reason of an ERROR",
        dependencies=[Depends(require("read"))])
def get_task(task_id: str, request: Request, services: ServicesDep) -> Any:
    return _answer(lambda: task_view(find_task(services, task_id, _sees(request)), detailed=True))


@_route("POST", "/task/{task_id}", status_code=201, summary="Run a task N times (operation RUN)",
        dependencies=[Depends(require("run"))],
        responses={404: {"description": "unknown task"}, 409: {"description": "the task is not READY"},
                   422: {"description": "times outside 1…10,000, or bad parameters"}})
def run_task(task_id: str, request: Request, services: ServicesDep,
             body: Any = Body(None, examples=[{"operation": "RUN", "times": 3, "command": "echo hello"}])) -> Any:
    def action() -> JSONResponse:
        batch_id = run_times(services, task_id, _parse(TaskOperation, body), _sees(request))
        return JSONResponse({"result_id": batch_id}, status_code=201,
                            headers={"Location": f"/result/{batch_id}/"})
    return _answer(action)


# -- results and details ------------------------------------------------------------------------
@_route("GET", "/result", summary="List results (one per RUN of a task)", dependencies=[Depends(require("read"))])
def list_results(request: Request, services: ServicesDep) -> list[dict[str, Any]]:
    return [_result(services, b) for b in services.container_jobs.batches(team=_sees(request))]


@_route("GET", "/result/{result_id}", summary="A result: status, submitted_at, start, end, duration",
        dependencies=[Depends(require("read"))])
def get_result(result_id: str, request: Request, services: ServicesDep) -> Any:
    return _answer(lambda: _result(services, find_batch(services, result_id, _sees(request))))


@_route("POST", "/result/{result_id}", status_code=202, summary="Cancel a result (operation CANCEL)",
        dependencies=[Depends(require("run"))],
        responses={404: {"description": "unknown result"}, 409: {"description": "nothing left to cancel"}})
def operate_result(result_id: str, request: Request, services: ServicesDep, body: Any = Body(None,
                   examples=[{"operation": "CANCEL"}])) -> Any:
    def action() -> JSONResponse | dict[str, Any]:
        operation = _parse(ResultOperation, body)
        if operation.operation.upper() != "CANCEL":
            raise InvalidInput(f"unknown operation {operation.operation!r}: a result knows CANCEL")
        cancel(services, result_id, _sees(request))
        return _result(services, find_batch(services, result_id, _sees(request)))
    return _answer(action)


@_route("GET", "/result/{result_id}/detail", summary="One record per execution",
        dependencies=[Depends(require("read"))])
def list_details(result_id: str, request: Request, services: ServicesDep) -> Any:
    def action() -> list[dict[str, Any]]:
        find_batch(services, result_id, _sees(request))
        return [_detail(r) for r in services.container_jobs.batch_runs(result_id, team=_sees(request))]
    return _answer(action)


@_route("GET", "/result/{result_id}/detail/{detail_id}", summary="One execution",
        dependencies=[Depends(require("read"))])
def get_detail(result_id: str, detail_id: str, request: Request, services: ServicesDep) -> Any:
    return _answer(lambda: _detail(find_detail(services, result_id, detail_id, _sees(request))))


@_route("GET", "/result/{result_id}/detail/{detail_id}/logs",
        summary="An execution's output: stdout and stderr apart", dependencies=[Depends(require("read"))])
def get_detail_logs(result_id: str, detail_id: str, request: Request, services: ServicesDep) -> Any:
    def action() -> dict[str, Any]:
        row = find_detail(services, result_id, detail_id, _sees(request))
        output = row.attempt_result or {}
        return {"detail_id": detail_id, "result_id": result_id, "status": detail_status(row.state, row.outcome),
                "stdout": output.get("stdout", ""), "stderr": output.get("stderr", "")}
    return _answer(action)
