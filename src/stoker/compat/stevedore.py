"""The Stevedore API (seed-apis.md §3) as a thin adapter: a task is a container job, a result is a
batch of its runs (run N times), a detail is one run. Everything else — idempotent submit,
concurrency limits, retries, the dead-letter list, leases and the reaper — is Stoker's own.

As the original's clients expect: trailing slashes are optional; `name` defaults to the repository;
`operation` defaults to RUN and `times` to 1; a repository registered twice answers 409 naming its
task; POST answers carry a Location header; times are epoch seconds (UTC) and duration = end − start;
errors answer {"message": …}.

A detail's status: QUEUED, RUNNING, COMPLETE (exit 0), ERROR (another exit code, out of memory, or
a runtime failure), KILLED (past its timeout_seconds), CANCELLED. A result's status follows its
details: QUEUED until one starts; RUNNING while any runs or waits; then COMPLETE if all completed,
else KILLED if any was killed, else CANCELLED if any was cancelled, else ERROR.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stoker.api.auth import require
from stoker.core import limits
from stoker.core.container_spec import check_spec
from stoker.core.errors import Conflict, InvalidInput, NotFound, StokerError
from stoker.services import Services
from stoker.submission import RunRequest, Submitter

router = APIRouter(tags=["Stevedore API"])
M = TypeVar("M", bound=BaseModel)

MAX_TIMES = limits.MAX_TIMES
# Run N times means N at once (as far as the workers' container lanes allow), not one after another.
# An execution whose worker died, or that timed out, is tried again at once (3 attempts in all); one
# whose container exited non-zero is not (executors/container.py).
TASK_POLICY = {"max_concurrent_runs": 1000, "max_attempts": 3, "backoff": "constant", "backoff_seconds": 0.5,
               "description": "a Stevedore task (registered with POST /task/)"}
DETAIL_STATUS = {"QUEUED": "QUEUED", "RUNNING": "RUNNING", "SUCCEEDED": "COMPLETE",
                 "CANCELLED": "CANCELLED"}


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: str | list[str] | None = Field(None, description="a string (split as a shell would) or a list")
    env: dict[str, str | int | float | bool] | None = None
    timeout_seconds: float | None = Field(None, description="past it the container is killed: KILLED")
    memory_mb: int | None = None
    cpus: float | None = None
    network: str | None = Field(None, description="none (default), host or bridge")


class TaskCreate(Limits):
    repository: str = Field(..., min_length=1, max_length=500, examples=["localhost/stoker/busybox:latest"])
    name: str | None = Field(None, min_length=1, max_length=200, description="defaults to the repository")


class TaskOperation(Limits):
    operation: str = "RUN"
    times: int = 1


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


def _services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


# -- tasks --------------------------------------------------------------------------------------
@_route("GET", "/task", summary="List tasks (Id, Name, and their status)",
        dependencies=[Depends(require("read"))])
def list_tasks(request: Request) -> list[dict[str, Any]]:
    return [task_view(t) for t in _services(request).container_jobs.all()]


@_route("POST", "/task", status_code=201, summary="Register an image as a task; its import starts",
        dependencies=[Depends(require("submit"))],
        responses={409: {"description": "the repository is already a task"},
                   503: {"description": "no container runtime"}})
def create_task(request: Request, body: Any = Body(None, examples=[{"repository": "localhost/stoker/busybox:latest",
                                                                    "name": "busybox"}])) -> Any:
    def action() -> JSONResponse:
        job = register(_services(request), _parse(TaskCreate, body))
        return JSONResponse({"task_id": job["id"], "status": job["status"]}, status_code=201,
                            headers={"Location": f"/task/{job['id']}/"})
    return _answer(action)


@_route("GET", "/task/{task_id}", summary="A task: its image, status and the reason of an ERROR",
        dependencies=[Depends(require("read"))])
def get_task(task_id: str, request: Request) -> Any:
    return _answer(lambda: task_view(find_task(_services(request), task_id), detailed=True))


@_route("POST", "/task/{task_id}", status_code=201, summary="Run a task N times (operation RUN)",
        dependencies=[Depends(require("submit"))],
        responses={404: {"description": "unknown task"}, 409: {"description": "the task is not READY"},
                   422: {"description": "times outside 1…10,000, or bad parameters"}})
def run_task(task_id: str, request: Request,
             body: Any = Body(None, examples=[{"operation": "RUN", "times": 3, "command": "echo hello"}])) -> Any:
    def action() -> JSONResponse:
        batch_id = run_times(_services(request), task_id, _parse(TaskOperation, body))
        return JSONResponse({"result_id": batch_id}, status_code=201,
                            headers={"Location": f"/result/{batch_id}/"})
    return _answer(action)


def register(services: Services, task: TaskCreate) -> dict[str, Any]:
    """Register a task (the API's POST /task/ and the UI's form): a container job whose image
    import starts now; 503 without a runtime, 409 for a repository that is a task already."""
    services.containers.require()
    spec = check_spec({"image": task.repository, **task.model_dump(exclude={"repository", "name"},
                                                                   exclude_none=True)})
    return services.images.register(task.name or task.repository, spec, repository=task.repository,
                                     **TASK_POLICY)


def run_times(services: Services, task_id: str, run: TaskOperation) -> str:
    """Run a READY task `times` times (one batch, the result); the result's id."""
    if run.operation.upper() != "RUN":
        raise InvalidInput(f"unknown operation {run.operation!r}: a task knows RUN")
    if not 1 <= run.times <= MAX_TIMES:
        raise InvalidInput(f"times must be between 1 and {MAX_TIMES:,}, not {run.times}")
    task = find_task(services, task_id)
    if task["status"] != "READY":
        why = f" ({task['error']})" if task["error"] else ""
        raise Conflict(f"task {task_id} cannot run: its status is {task['status']}{why}; "
                       f"it runs once READY")
    overrides = run.model_dump(exclude={"operation", "times"}, exclude_none=True)
    batch_id, _ = Submitter(services).submit_batch([RunRequest(container=overrides)],
                                                   job_name=task["id"], copies=run.times)
    return batch_id


def cancel(services: Services, result_id: str) -> dict[str, Any]:
    """Cancel a result's executions that have not ended (409 when none is left); its view after."""
    find_batch(services, result_id)
    active = [r["id"] for r in services.container_jobs.batch_runs(result_id)
              if r["state"] in ("QUEUED", "RUNNING")]
    if not active:
        status = result_view(find_batch(services, result_id))["status"]
        raise Conflict(f"result {result_id} is {status}: nothing is left to cancel")
    for run_id in active:
        try:
            services.runs.cancel(run_id)
        except Conflict:
            pass  # it finished meanwhile
    return result_view(find_batch(services, result_id))


# -- results and details ------------------------------------------------------------------------
@_route("GET", "/result", summary="List results (one per RUN of a task)", dependencies=[Depends(require("read"))])
def list_results(request: Request) -> list[dict[str, Any]]:
    return [result_view(b) for b in _services(request).container_jobs.batches()]


@_route("GET", "/result/{result_id}", summary="A result: status, submitted_at, start, end, duration",
        dependencies=[Depends(require("read"))])
def get_result(result_id: str, request: Request) -> Any:
    return _answer(lambda: result_view(find_batch(_services(request), result_id)))


@_route("POST", "/result/{result_id}", status_code=202, summary="Cancel a result (operation CANCEL)",
        dependencies=[Depends(require("submit"))],
        responses={404: {"description": "unknown result"}, 409: {"description": "nothing left to cancel"}})
def operate_result(result_id: str, request: Request, body: Any = Body(None, examples=[{"operation": "CANCEL"}])) -> Any:
    def action() -> JSONResponse | dict[str, Any]:
        services = _services(request)
        operation = _parse(ResultOperation, body)
        if operation.operation.upper() != "CANCEL":
            raise InvalidInput(f"unknown operation {operation.operation!r}: a result knows CANCEL")
        return cancel(services, result_id)
    return _answer(action)


@_route("GET", "/result/{result_id}/detail", summary="One record per execution",
        dependencies=[Depends(require("read"))])
def list_details(result_id: str, request: Request) -> Any:
    def action() -> list[dict[str, Any]]:
        services = _services(request)
        find_batch(services, result_id)
        return [detail_view(r) for r in services.container_jobs.batch_runs(result_id)]
    return _answer(action)


@_route("GET", "/result/{result_id}/detail/{detail_id}", summary="One execution",
        dependencies=[Depends(require("read"))])
def get_detail(result_id: str, detail_id: str, request: Request) -> Any:
    return _answer(lambda: detail_view(find_detail(_services(request), result_id, detail_id)))


@_route("GET", "/result/{result_id}/detail/{detail_id}/logs",
        summary="An execution's output: stdout and stderr apart", dependencies=[Depends(require("read"))])
def get_detail_logs(result_id: str, detail_id: str, request: Request) -> Any:
    def action() -> dict[str, Any]:
        row = find_detail(_services(request), result_id, detail_id)
        output = row["attempt_result"] or {}
        return {"detail_id": detail_id, "result_id": result_id, "status": detail_status(row),
                "stdout": output.get("stdout", ""), "stderr": output.get("stderr", "")}
    return _answer(action)


# -- status rules (pure) ----------------------------------------------------------------------------
def detail_status(run: dict[str, Any]) -> str:
    if run["state"] == "FAILED":
        return "KILLED" if run["outcome"] == "timed_out" else "ERROR"
    return DETAIL_STATUS[run["state"]]


def result_status(statuses: Iterable[str]) -> str:
    counts = Counter(statuses)
    if counts["QUEUED"] == sum(counts.values()):
        return "QUEUED"
    if counts["RUNNING"] or counts["QUEUED"]:
        return "RUNNING"
    for status in ("KILLED", "CANCELLED", "ERROR"):
        if counts[status]:
            return status
    return "COMPLETE"


# -- look-ups and views -------------------------------------------------------------------------
def find_task(services: Services, task_id: str) -> dict[str, Any]:
    try:
        return services.container_jobs.get(task_id)
    except NotFound:
        raise NotFound(f"task {task_id} does not exist") from None


def find_batch(services: Services, result_id: str) -> dict[str, Any]:
    found = services.container_jobs.batches(batch_id=result_id)
    if not found:
        raise NotFound(f"result {result_id} does not exist")
    return found[0]


def find_detail(services: Services, result_id: str, detail_id: str) -> dict[str, Any]:
    rows = services.container_jobs.batch_runs(result_id, run_id=detail_id)
    if not rows:
        find_batch(services, result_id)
        raise NotFound(f"result {result_id} has no detail {detail_id}")
    return rows[0]


def _epoch(ts: float | None) -> float | None:
    return round(ts, 3) if ts is not None else None


def _times(submitted_at: float | None, start: float | None, end: float | None) -> dict[str, Any]:
    return {"submitted_at": _epoch(submitted_at), "start": _epoch(start), "end": _epoch(end),
            "duration": _epoch(end - start) if start is not None and end is not None else None}


def task_view(task: dict[str, Any], *, detailed: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {"Id": task["id"], "Name": task["name"], "task_id": task["id"],
                            "name": task["name"], "status": task["status"]}
    if detailed:
        spec = task["spec"]
        view.update({"repository": task["repository"] or spec["image"], "image": spec["image"],
                     "command": spec.get("command"), "image_digest": task["image_digest"],
                     "error": task["error"], "created_at": _epoch(task["created_at"]),
                     "links": {"job": f"/api/v1/jobs/{task['id']}", "runs": f"/api/v1/jobs/{task['id']}/runs"}})
    return view


def result_view(batch: dict[str, Any]) -> dict[str, Any]:
    statuses = [detail_status({"state": s, "outcome": o}) for s, o, n in batch["counts"] for _ in range(n)]
    status = result_status(statuses)
    done = status not in ("QUEUED", "RUNNING")
    return {"result_id": batch["batch_id"], "task_id": batch["job_id"], "status": status,
            **_times(batch["submitted_at"], batch["start"], batch["end"] if done else None),
            "times": len(statuses), "counts": dict(Counter(statuses)),
            "links": {"details": f"/result/{batch['batch_id']}/detail/",
                      "batch": f"/api/v1/batches/{batch['batch_id']}"}}


def detail_view(run: dict[str, Any]) -> dict[str, Any]:
    status = detail_status(run)
    output = run["attempt_result"] or {}
    done = status not in ("QUEUED", "RUNNING")
    base = f"/result/{run['batch_id']}/detail/{run['id']}"
    return {"detail_id": run["id"], "result_id": run["batch_id"], "task_id": run["job_id"], "status": status,
            **_times(run["queued_at"], run["started_at"], run["finished_at"] if done else None),
            "exit_code": output.get("exit_code"),
            "image_digest": output.get("image_digest"),
            "error": run["error"] if status not in ("COMPLETE",) else None,
            "attempts": run["attempt_count"],
            "links": {"logs": f"{base}/logs", "run": f"/api/v1/runs/{run['id']}"}}
