"""The UI's container tasks and results (Stevedore): register a task, run it N times, its results,
an execution's details and logs — through the same functions the Stevedore API calls, with the
same scopes (read to look, submit to register, run or cancel) and the same statuses."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from stoker.api.deps import ServicesDep
from stoker.core.errors import InvalidInput, StokerError
from stoker.services import Services
from stoker.store.ui_sessions import UiSession
from stoker.submission import container_tasks as tasks_service
from stoker.ui.actions import refused, see_other
from stoker.ui.pages import live_horizon
from stoker.ui.render import render
from stoker.ui.session import authorize, current_session

router = APIRouter(prefix="/ui", include_in_schema=False)

# The fields of the register form besides the image and name, as the API takes them.
LIMIT_FIELDS = ("command", "env", "timeout_seconds", "memory_mb", "cpus", "network")


def parse_env(text: str) -> dict[str, str] | None:
    """KEY=VALUE lines (blank lines skipped) as the env object the API takes."""
    env: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"env line {number} ({line.strip()[:40]!r}) must be KEY=VALUE")
        env[key.strip()] = value
    return env or None


def _words(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors())


def _limits(command: str, env: str, timeout_seconds: str, memory_mb: str, cpus: str,
            network: str) -> dict[str, Any]:
    """The filled fields only (an empty one keeps the task's or the default value); pydantic checks
    their types with the API's own models."""
    values: dict[str, Any] = {"command": command.strip() or None, "env": parse_env(env),
                              "timeout_seconds": timeout_seconds.strip() or None,
                              "memory_mb": memory_mb.strip() or None, "cpus": cpus.strip() or None,
                              "network": network.strip() or None}
    return {k: v for k, v in values.items() if v is not None}


# ---- tasks ---------------------------------------------------------------------------------
@router.get("/tasks", response_class=HTMLResponse)
def tasks_page(request: Request, services: ServicesDep, session: UiSession = Depends(current_session)) -> HTMLResponse:
    return _tasks(request, services, session)


def _tasks(request: Request, services: Services, session: UiSession, *, status_code: int = 200,
           message: str | None = None,
           form: dict[str, str] | None = None) -> HTMLResponse:
    return render(request, "tasks.html", session, status_code=status_code,
                  tasks=services.container_jobs.all(session.principal.sees), runtime=services.containers,
                  message=message, form=form or {})


@router.post("/tasks")
def register_task(request: Request, services: ServicesDep, session: UiSession = Depends(current_session),
                  csrf_token: str = Form(""),
                  repository: str = Form(""), name: str = Form(""), command: str = Form(""),
                  env: str = Form(""), timeout_seconds: str = Form(""), memory_mb: str = Form(""),
                  cpus: str = Form(""), network: str = Form("")) -> Response:
    authorize(session, "edit", csrf_token)
    form = {"repository": repository, "name": name, "command": command, "env": env,
            "timeout_seconds": timeout_seconds, "memory_mb": memory_mb, "cpus": cpus, "network": network}
    try:
        body = {"repository": repository.strip(), **_limits(command, env, timeout_seconds, memory_mb, cpus, network)}
        if name.strip():
            body["name"] = name.strip()
        job = tasks_service.register(services, tasks_service.TaskCreate.model_validate(body),
                                     session.principal.team)
    except ValidationError as exc:
        return _tasks(request, services, session, status_code=422, message=_words(exc), form=form)
    except StokerError as exc:
        return _tasks(request, services, session, status_code=exc.status_code, message=exc.message, form=form)
    return see_other(f"/ui/tasks/{quote(job.id)}")


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(task_id: str, request: Request, services: ServicesDep,
              session: UiSession = Depends(current_session)) -> HTMLResponse:
    task = tasks_service.find_task(services, task_id, session.principal.sees)
    results = [tasks_service.result_view(b) for b in services.container_jobs.batches(job_id=task.id)]
    return render(request, "task.html", session, task=task, view=tasks_service.task_view(task, detailed=True),
                  results=results[::-1][:100], result_count=len(results))


@router.post("/tasks/{task_id}/run")
def run_task(task_id: str, request: Request, services: ServicesDep, session: UiSession = Depends(current_session),
             csrf_token: str = Form(""), times: str = Form("1"), command: str = Form(""),
             env: str = Form(""), timeout_seconds: str = Form("")) -> Response:
    authorize(session, "run", csrf_token)
    back = f"/ui/tasks/{quote(task_id)}"
    try:
        if not times.strip().isdigit():
            raise InvalidInput(f"times must be a whole number from 1 to {tasks_service.MAX_TIMES:,}, not {times!r}")
        body = {"times": int(times), **_limits(command, env, timeout_seconds, "", "", "")}
        operation = tasks_service.TaskOperation.model_validate(body)
        result_id = tasks_service.run_times(services, task_id, operation, session.principal.sees)
    except ValidationError as exc:
        return refused(request, session, InvalidInput(_words(exc)), back)
    except StokerError as exc:
        return refused(request, session, exc, back)
    return see_other(f"/ui/results/{quote(result_id)}")


# ---- results and their executions -------------------------------------------------------------
# A result of up to 10,000 executions shows them this many a page (its counts cover them all).
DETAILS_PER_PAGE = 100


@router.get("/results/{result_id}", response_class=HTMLResponse)
def result_page(result_id: str, request: Request, services: ServicesDep, session: UiSession = Depends(current_session),
                offset: int = Query(0, ge=0, le=tasks_service.MAX_TIMES)) -> HTMLResponse:
    after = live_horizon(request)  # before reading: a change after this is streamed, none is missed
    result = tasks_service.result_view(tasks_service.find_batch(services, result_id, session.principal.sees))
    rows = services.container_jobs.batch_runs(result_id, limit=DETAILS_PER_PAGE, offset=offset)
    task = tasks_service.find_task(services, result["task_id"], session.principal.sees)
    return render(request, "result.html", session, result=result, task=task,
                  details=[{**tasks_service.detail_view(r), "state": r.state} for r in rows], after=after,
                  cancellable=result["status"] in ("QUEUED", "RUNNING"), offset=offset, per_page=DETAILS_PER_PAGE)


@router.post("/results/{result_id}/cancel")
def cancel_result(result_id: str, request: Request, services: ServicesDep,
                  session: UiSession = Depends(current_session),
                  csrf_token: str = Form("")) -> Response:
    authorize(session, "run", csrf_token)
    try:
        tasks_service.cancel(services, result_id, session.principal.sees)
    except StokerError as exc:
        return refused(request, session, exc, f"/ui/results/{quote(result_id)}")
    return see_other(f"/ui/results/{quote(result_id)}")


@router.get("/results/{result_id}/details/{detail_id}", response_class=HTMLResponse)
def detail_page(result_id: str, detail_id: str, request: Request, services: ServicesDep,
                session: UiSession = Depends(current_session)) -> HTMLResponse:
    after = live_horizon(request)
    row = tasks_service.find_detail(services, result_id, detail_id)
    output = row.attempt_result or {}
    return render(request, "detail.html", session, detail=tasks_service.detail_view(row), state=row.state,
                  task=tasks_service.find_task(services, row.job_id),
                  stdout=output.get("stdout", ""), stderr=output.get("stderr", ""), after=after)
