"""The UI's actions (POST forms): sign-in and sign-out, and the same operations the API offers,
through the same services, each checked for its CSRF token and the scope the API asks for."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from stoker.api.audit import source_of
from stoker.api.deps import (
    CatalogDep,
    JobStoreDep,
    RunStoreDep,
    ScheduleServiceDep,
    ServicesDep,
    StorageRootsDep,
    TokenStoreDep,
    services_of,
)
from stoker.api.jobs import validate_job_steps
from stoker.api.models import JobCreate
from stoker.catalog import PathRefused, PipelineInvalid
from stoker.core.errors import InvalidInput, NotFound, StokerError
from stoker.store.audit import AuditEntry
from stoker.store.tokens import SCOPES
from stoker.store.ui_sessions import UiSession
from stoker.submission.runs import RunRequest, Submitter
from stoker.ui.oidc import SESSION_TOKEN_NAME
from stoker.ui.render import render
from stoker.ui.session import COOKIE, authorize, current_session, session_store

router = APIRouter(prefix="/ui", include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never another host) is a place to go back to."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/ui/"
    return target


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _json_field(text: str, what: str, default: Any) -> Any:
    if not text.strip():
        return default
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from None


# ---- sign-in ------------------------------------------------------------------------------
@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str = "/ui/") -> HTMLResponse:
    oidc = bool(services_of(request.app).settings.oidc_issuer)
    return render(request, "sign_in.html", None, next=_safe_next(next), message=None, oidc=oidc)


@router.post("/sign-in")
def sign_in(request: Request, tokens: TokenStoreDep, token: str = Form(""), next: str = Form("/ui/")) -> Response:
    principal = tokens.lookup(token.strip()) if token.strip() else None
    if principal is None:
        return render(request, "sign_in.html", None, status_code=401, next=_safe_next(next),
                      message="That token is unknown or revoked.",
                      oidc=bool(services_of(request.app).settings.oidc_issuer))
    request.state.principal = principal  # the audit log names who signed in
    session_id, session = session_store(request).open(principal)
    response = see_other(_safe_next(next))
    response.set_cookie(COOKIE, session_id, max_age=int(session.expires_at - session_store(request).clock()),
                        httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/ui")
    return response


@router.post("/sign-out")
async def sign_out(request: Request, session: UiSession = Depends(current_session),
                   csrf_token: str = Form("")) -> Response:
    authorize(session, "read", csrf_token)
    await run_in_threadpool(session_store(request).close, request.cookies[COOKIE])
    if session.principal.name == SESSION_TOKEN_NAME:  # made for this session alone: it ends with it
        await run_in_threadpool(lambda: services_of(request.app).tokens.revoke(session.principal.token_id,
                                                                                by=_by(request, session)))
    response = see_other("/ui/sign-in")
    response.delete_cookie(COOKIE, path="/ui")
    return response


# ---- runs ---------------------------------------------------------------------------------
def refused(request: Request, session: UiSession, exc: Exception, back: str) -> HTMLResponse:
    """A refusal in words, with the status the API answers, and the way back."""
    status = exc.status_code if isinstance(exc, StokerError) else 422 if isinstance(exc, PipelineInvalid) else 400
    problems = exc.problems if isinstance(exc, PipelineInvalid) else []
    message = exc.message if isinstance(exc, StokerError) else str(exc)
    return render(request, "message.html", session, status_code=status, title="Refused", message=message,
                  problems=problems, back=back)


@router.post("/runs")
def submit_run(request: Request, services: ServicesDep, session: UiSession = Depends(current_session),
               csrf_token: str = Form(""),
               steps: str = Form(""), params: str = Form(""), back: str = Form("")) -> Response:
    """Submit an ad-hoc pipeline; then to the run's page (or back to the list it was sent from)."""
    authorize(session, "run", csrf_token)
    try:
        run_steps = _json_field(steps, "steps", None)
        if not isinstance(run_steps, list):
            raise InvalidInput("steps must be a JSON list of steps, e.g. [[\"range\", 5], [\"count\"]]")
        submitted = Submitter(services).submit(
            RunRequest(steps=run_steps, params=_json_field(params, "parameters", {}), team=session.principal.team))
    except (StokerError, PipelineInvalid, PathRefused) as exc:
        return refused(request, session, exc, "/ui/runs")
    return see_other(_safe_next(back) if back else f"/ui/runs/{submitted.run_id}")


@router.post("/runs/{run_id}/retry")
def retry_run(run_id: str, request: Request, runs: RunStoreDep, session: UiSession = Depends(current_session),
              csrf_token: str = Form(""), back: str = Form("")) -> Response:
    authorize(session, "run", csrf_token)
    try:
        runs.retry(run_id, team=session.principal.sees)
    except StokerError as exc:
        return refused(request, session, exc, _safe_next(back or f"/ui/runs/{run_id}"))
    return see_other(f"/ui/runs/{run_id}")


@router.post("/runs/{run_id}/cancel")
def cancel_run(run_id: str, request: Request, runs: RunStoreDep, session: UiSession = Depends(current_session),
               csrf_token: str = Form("")) -> Response:
    authorize(session, "run", csrf_token)
    try:
        runs.cancel(run_id, team=session.principal.sees)
    except StokerError as exc:
        return refused(request, session, exc, f"/ui/runs/{run_id}")
    return see_other(f"/ui/runs/{run_id}")


# ---- jobs ---------------------------------------------------------------------------------
@router.post("/jobs")
def save_job(request: Request, jobs: JobStoreDep, catalog: CatalogDep, roots: StorageRootsDep,
             session: UiSession = Depends(current_session), csrf_token: str = Form(""),
             name: str = Form(""), steps: str = Form(""), description: str = Form(""),
             max_attempts: int = Form(3), existing: str = Form("")) -> Response:
    """Create a pipeline job, or (existing=its name) change it; catalog problems are shown next to
    the steps they are about."""
    authorize(session, "edit", csrf_token)
    job = jobs.get(existing, session.principal.sees) if existing else None
    try:
        parsed = _json_field(steps, "steps", [])
        if not isinstance(parsed, list):
            raise InvalidInput("steps must be a JSON list of steps")
        # The API's own model checks the name and policy, with the API's messages.
        body = JobCreate.model_validate({"name": existing or name.strip(), "steps": parsed,
                                         "description": description, "max_attempts": max_attempts})
        validate_job_steps(catalog, roots.for_team(job.team_id if job else session.principal.team), parsed)
        if job is None:
            jobs.create(body.name, "pipeline", {"steps": parsed}, description=description,
                        max_attempts=max_attempts, team=session.principal.team)
        else:
            jobs.update(job.id, spec={"steps": parsed}, description=description, max_attempts=max_attempts)
    except ValidationError as exc:
        return render(request, "job_form.html", session, status_code=422, job=job, steps_text=steps,
                      problems=[], name=name, description=description, message="; ".join(
                          f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()))
    except (StokerError, PipelineInvalid, PathRefused) as exc:
        problems = exc.problems if isinstance(exc, PipelineInvalid) else []
        if isinstance(exc, PathRefused):
            problems = [{"step": exc.step, "message": exc.message}]
        message = exc.message if isinstance(exc, StokerError) else str(exc)
        return render(request, "job_form.html", session, status_code=422, job=job, steps_text=steps,
                      problems=problems, message=message, name=name, description=description)
    return see_other(f"/ui/jobs/{quote(existing or name.strip())}")


@router.post("/jobs/{name}/runs")
def submit_job_run(name: str, request: Request, services: ServicesDep, session: UiSession = Depends(current_session),
                   csrf_token: str = Form(""), params: str = Form("")) -> Response:
    authorize(session, "run", csrf_token)
    try:
        submitted = Submitter(services).submit(
            RunRequest(params=_json_field(params, "parameters", {}), team=session.principal.team), job_name=name)
    except (StokerError, PipelineInvalid, PathRefused) as exc:
        return refused(request, session, exc, f"/ui/jobs/{quote(name)}")
    return see_other(f"/ui/runs/{submitted.run_id}")


# ---- schedules ----------------------------------------------------------------------------
@router.post("/jobs/{name}/schedule")
def set_schedule(name: str, request: Request, jobs: JobStoreDep, schedules: ScheduleServiceDep,
                 session: UiSession = Depends(current_session), csrf_token: str = Form(""), cron: str = Form(""),
                 timezone: str = Form("UTC"), overlap: str = Form("skip"), catchup: str = Form("latest")) -> Response:
    """Set the job's schedule (an empty cron removes it), checked as the API checks it."""
    authorize(session, "edit", csrf_token)
    try:
        job = jobs.get(name, session.principal.sees)
        raw = {"cron": cron, "timezone": timezone.strip() or "UTC", "overlap": overlap, "catchup": catchup}
        schedules.set(job, raw if cron.strip() else None)
    except StokerError as exc:
        return refused(request, session, exc, f"/ui/jobs/{quote(name)}")
    return see_other(f"/ui/jobs/{quote(name)}")


@router.post("/jobs/{name}/schedule/{action}")
def pause_schedule(name: str, action: str, request: Request, jobs: JobStoreDep, schedules: ScheduleServiceDep,
                   session: UiSession = Depends(current_session), csrf_token: str = Form("")) -> Response:
    authorize(session, "edit", csrf_token)
    if action not in ("pause", "resume"):
        raise NotFound(f"no schedule action {action!r}: pause or resume")
    try:
        schedules.pause(jobs.get(name, session.principal.sees), action == "pause")
    except StokerError as exc:
        return refused(request, session, exc, f"/ui/jobs/{quote(name)}")
    return see_other(f"/ui/jobs/{quote(name)}")


# ---- tokens -------------------------------------------------------------------------------
def _by(request: Request, session: UiSession) -> AuditEntry:
    """Who changes a token, for the audit entry the token store writes with the change."""
    principal = session.principal
    return AuditEntry(actor=principal.user, team=principal.team, action="", source=source_of(request.scope),
                      token_id=principal.token_id)


@router.post("/tokens", response_class=HTMLResponse)
def create_token(request: Request, tokens: TokenStoreDep, session: UiSession = Depends(current_session),
                 csrf_token: str = Form(""), name: str = Form(""), scopes: list[str] = Form([]),
                 user: str = Form("")) -> HTMLResponse:
    """The new token is in this one response and nowhere else: only its hash is stored."""
    authorize(session, "admin", csrf_token)
    unknown = [s for s in scopes if s not in SCOPES]
    if not name.strip() or not scopes or unknown:
        return render(request, "tokens.html", session, status_code=422, tokens=tokens.list(),
                      new_token=None, message="Give the token a name and at least one known scope.")
    try:
        token = tokens.create(name.strip(), scopes, user=user.strip() or None, team=session.principal.team,
                              by=_by(request, session))
    except StokerError as exc:  # a user name that is not URL-safe (422) or taken (409)
        return render(request, "tokens.html", session, status_code=exc.status_code, tokens=tokens.list(),
                      new_token=None, message=exc.message)
    return render(request, "tokens.html", session, tokens=tokens.list(),
                  new_token={"name": name.strip(), "scopes": sorted(scopes), "token": token})


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: str, request: Request, tokens: TokenStoreDep, session: UiSession = Depends(current_session),
                 csrf_token: str = Form("")) -> Response:
    authorize(session, "admin", csrf_token)
    if not tokens.revoke(token_id, by=_by(request, session)):
        return refused(request, session, InvalidInput(f"no token with id {token_id!r}"), "/ui/tokens")
    return see_other("/ui/tokens")
