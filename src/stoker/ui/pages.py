"""The UI's pages (GET): each reads through the same dependencies and functions the API reads
through (`stoker.api.deps`); none opens a transaction or reaches into app.state."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse

from stoker.api.deps import (
    CatalogDep,
    DashboardDep,
    DatabaseDep,
    EventStoreDep,
    JobStoreDep,
    NotificationStoreDep,
    RunStoreDep,
    ScheduleServiceDep,
    TokenStoreDep,
    stream_hub_of,
)
from stoker.api.stream import stream_events
from stoker.api.views import conf_rows, run_view
from stoker.core.errors import InvalidInput, NotFound
from stoker.core.secrets import redacted_view
from stoker.core.states import RunState
from stoker.events.store import summary_view
from stoker.store.records.runs import Run
from stoker.store.records.spark_apps import SparkApp
from stoker.store.sink_cursors import sink_lag
from stoker.store.ui_sessions import UiSession
from stoker.ui.files import written_files
from stoker.ui.render import render
from stoker.ui.session import TeamFileStoreDep, current_session

router = APIRouter(prefix="/ui", include_in_schema=False)

STATES = [s.value for s in RunState]


def live_horizon(request: Request) -> int:
    """The newest run event now: a page's live updates start after it, so none is missed between
    rendering the page and its stream connecting."""
    app: FastAPI = request.app
    return int(stream_hub_of(app).feed.horizon())


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, dashboard: DashboardDep, db: DatabaseDep,
             session: UiSession = Depends(current_session)) -> HTMLResponse:
    oldest = dashboard.oldest_queued_at()
    sinks = sink_lag(db)
    throughput = dashboard.throughput()
    return render(request, "overview.html", session, counts=dashboard.counts_by_state(), oldest_queued_at=oldest,
                  throughput=throughput, running=dashboard.running_attempts(), sinks=sinks,
                  finished_hour=sum(b.succeeded + b.failed for b in throughput),
                  failed_hour=sum(b.failed for b in throughput))


# The runs page's time filter: queued within the last …
SINCE = {"15m": 900, "1h": 3600, "24h": 86400, "7d": 7 * 86400}


@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request, runs_store: RunStoreDep, session: UiSession = Depends(current_session),
              job: str = "", state: str = "",
              since: str = "", batch: str = "", cursor: str | None = Query(None),
              limit: int = Query(50, ge=1, le=500)) -> HTMLResponse:
    if cursor is not None and not cursor.isdigit():
        raise InvalidInput("cursor must be the number a previous page linked to")
    if state and state not in STATES:
        raise InvalidInput(f"unknown state {state!r}; one of {', '.join(STATES)}")
    if since and since not in SINCE:
        raise InvalidInput(f"unknown time range {since!r}; one of {', '.join(SINCE)}")
    runs, next_cursor = runs_store.list(
        job=job or None, state=state or None, batch_id=batch or None, limit=limit,
        before_seq=int(cursor) if cursor else None,
        queued_after=time.time() - SINCE[since] if since else None, team=session.principal.sees)
    return render(request, "runs.html", session, runs=[run_view(r) for r in runs], next_cursor=next_cursor,
                  job=job, state=state, since=since, states=STATES, ranges=list(SINCE), batch=batch,
                  cursor_given=cursor is not None or bool(batch), after=live_horizon(request),
                  jobs=[j.name for j in runs_store.jobs.list(session.principal.sees)])


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: str, request: Request, runs: RunStoreDep, events: EventStoreDep, files: TeamFileStoreDep,
             session: UiSession = Depends(current_session)) -> HTMLResponse:
    run = runs.get(run_id, team=session.principal.sees)
    attempts = run.attempts or ()
    options = redacted_view(run.options, run.has_secrets)
    log_number, log_text = None, ""
    if attempts:
        log_number, log_text = runs.attempt_log(run_id, team=session.principal.sees)
    spark_apps = events.apps_of(sorted({a.spark_app_id for a in attempts if a.spark_app_id}))
    conf, conf_effective = conf_rows(run)
    return render(request, "run.html", session, run=run, options=options, log_number=log_number,
                  conf=conf, conf_effective=conf_effective,
                  after=live_horizon(request),
                  log_tail="\n".join(log_text.splitlines()[-200:]), timeline=_timeline(run),
                  result=run.result if isinstance(run.result, dict) else None, spark_apps=spark_apps,
                  written=written_files(files, run.result),
                  retryable=run.state in ("FAILED", "CANCELLED"),
                  cancellable=run.state in ("QUEUED", "RUNNING"))


def _timeline(run: Run) -> list[tuple[str, float]]:
    """The run's states in time order, from its own and its attempts' times."""
    points: list[tuple[str, float]] = [("QUEUED", run.queued_at)]
    for attempt in run.attempts or ():
        points.append((f"attempt {attempt.number} started on {attempt.worker_id}", attempt.started_at))
        if attempt.finished_at is not None:
            points.append((f"attempt {attempt.number} {attempt.outcome}", attempt.finished_at))
    if run.finished_at is not None:
        points.append((run.state, run.finished_at))
    return sorted(points, key=lambda p: p[1])


@router.get("/runs/{run_id}/log")
def run_log_download(run_id: str, runs: RunStoreDep, attempt: int | None = None,
                     session: UiSession = Depends(current_session)) -> PlainTextResponse:
    number, text = runs.attempt_log(run_id, attempt, team=session.principal.sees)
    return PlainTextResponse(text, headers={
        "Content-Disposition": f'attachment; filename="run-{run_id}-attempt-{number}.log"'})


@router.get("/runs/{run_id}/result.{fmt}")
def run_result_download(run_id: str, fmt: str, runs: RunStoreDep,
                        session: UiSession = Depends(current_session)) -> Response:
    run = runs.get(run_id, with_attempts=False, team=session.principal.sees)
    result = run.result
    if not isinstance(result, dict):
        raise NotFound(f"run {run_id} has no result: it is {run.state}")
    name = f"run-{run_id}-result.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "json":
        return Response(orjson.dumps(result), media_type="application/json", headers=headers)
    if fmt == "csv" and result.get("type") == "rows":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([c["name"] if isinstance(c, dict) else c for c in result["columns"]])
        writer.writerows(result["rows"])
        return Response(out.getvalue(), media_type="text/csv", headers=headers)
    raise InvalidInput("a result downloads as .json, or as .csv when it is rows")


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, jobs: JobStoreDep, schedules: ScheduleServiceDep,
              session: UiSession = Depends(current_session)) -> HTMLResponse:
    found = jobs.list(session.principal.sees)
    scheduled = schedules.store.get_many([j.id for j in found])
    words = {job_id: schedules.describe(record) for job_id, record in scheduled.items()}
    return render(request, "jobs.html", session, jobs=found, schedules=words)


@router.get("/jobs/new", response_class=HTMLResponse)
def new_job_page(request: Request, session: UiSession = Depends(current_session)) -> HTMLResponse:
    example = [["range", 10], ["filter", "id % 2 = 0"], ["count"]]
    return render(request, "job_form.html", session, job=None, steps_text=orjson.dumps(
        example, option=orjson.OPT_INDENT_2).decode(), problems=[], message=None)


@router.get("/jobs/{name}", response_class=HTMLResponse)
def job_page(name: str, request: Request, jobs: JobStoreDep, schedules: ScheduleServiceDep,
             notifications: NotificationStoreDep, session: UiSession = Depends(current_session)) -> HTMLResponse:
    job = jobs.get(name, session.principal.sees)
    record = schedules.store.get(job.id)
    deliveries = notifications.history(job.id, 20) if job.notifications else []
    return render(request, "job_form.html", session, job=job, steps_text=orjson.dumps(
        job.spec.get("steps", []), option=orjson.OPT_INDENT_2).decode(), problems=[], message=None,
        schedule=schedules.view(record, ticks=60) if record is not None else None,
        deliveries=deliveries, delivery_status=notifications.status(job.id) if deliveries else None)


@router.get("/functions", response_class=HTMLResponse)
def functions_page(request: Request, catalog: CatalogDep,
                   session: UiSession = Depends(current_session)) -> HTMLResponse:
    return render(request, "functions.html", session, functions=catalog.describe(),
                  dumps=lambda v: orjson.dumps(v).decode())


@router.get("/dead-letters", response_class=HTMLResponse)
def dead_letters_page(request: Request, runs: RunStoreDep, session: UiSession = Depends(current_session),
                      cursor: int | None = Query(None)) -> HTMLResponse:
    entries, next_cursor = runs.dead_letters(limit=50, before_id=cursor, team=session.principal.sees)
    return render(request, "dead_letters.html", session, entries=entries, next_cursor=next_cursor)


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, tokens: TokenStoreDep,
                session: UiSession = Depends(current_session)) -> HTMLResponse:
    if not session.principal.allows("admin"):
        return render(request, "message.html", session, status_code=403, title="Tokens",
                      message="Only an admin token sees and manages tokens.")
    return render(request, "tokens.html", session, tokens=tokens.list(), new_token=None)


@router.get("/spark", response_class=HTMLResponse)
def spark_apps_page(request: Request, store: EventStoreDep,
                    session: UiSession = Depends(current_session)) -> HTMLResponse:
    team = session.principal.sees
    apps = [(job, r) for job in store.job_names(team) for r in store.runs(job, team)]
    return render(request, "spark_apps.html", session, apps=apps)


# An application of a million events has thousands of stages: a page shows this many of them (and
# their bars), in stage order or slowest first, and the jobs on the timeline are the longest ones.
STAGES_PER_PAGE = 100
JOB_BARS = 100


@router.get("/spark/{job_name}/{run_id}", response_class=HTMLResponse)
def spark_app_page(job_name: str, run_id: str, request: Request, store: EventStoreDep,
                   session: UiSession = Depends(current_session),
                   order: str = Query("id", pattern="^(id|duration)$"),
                   offset: int = Query(0, ge=0, le=10**9)) -> HTMLResponse:
    app = store.app(job_name, run_id, session.principal.sees)
    analysis = store.analysis(app)
    stages = analysis["stages"]
    if order == "duration":
        stages = sorted(stages, key=lambda s: -_span(s["submitted"], s["completed"]))
    shown = stages[offset:offset + STAGES_PER_PAGE]
    jobs = analysis["jobs"]
    if len(jobs) > JOB_BARS:
        longest = sorted(jobs, key=lambda j: -_span(j["start"], j["end"]))[:JOB_BARS]
        jobs = sorted(longest, key=lambda j: j["job_id"])
    return render(request, "spark_app.html", session, summary=summary_view(app), analysis=analysis,
                  chart=orjson.dumps({"t": analysis["cores"]["t"], "busy": analysis["cores"]["busy"],
                                      "allocated": analysis["cores"]["allocated"]}).decode(),
                  bars=_bars(jobs, shown, app), stages=shown, order=order, offset=offset,
                  stage_count=len(stages), jobs_drawn=len(jobs), job_count=len(analysis["jobs"]),
                  per_page=STAGES_PER_PAGE)


def _span(start: int | None, end: int | None) -> int:
    return end - start if start and end else 0


def _bars(jobs: list[dict[str, Any]], stages: list[dict[str, Any]], app: SparkApp) -> list[dict[str, Any]]:
    """Jobs then stages as bars on the app's time range (x and width in percent, for an SVG)."""
    spans = [(f"job {j['job_id']}", j["start"], j["end"],
              "job failed" if j["result"] not in (None, "JobSucceeded") else "job",
              f"job {j['job_id']}: {j['result'] or 'running'}") for j in jobs]
    spans += [(f"stage {s['stage_id']}", s["submitted"], s["completed"],
               "stage" + (" skew" if s["skew"] else "") + (" failed" if s["failure"] else ""),
               f"stage {s['stage_id']} {s['name']}") for s in stages]
    times = [t for _, start, end, _, _ in spans for t in (start, end) if t]
    begin = app.start_ms or (min(times) if times else 0)
    width = max(1, (app.end_ms or (max(times) if times else begin + 1)) - begin)
    bars = []
    for label, start, end, cls, title in spans:
        lo = (start or begin) - begin
        hi = (end or begin + width) - begin
        if end and start:
            title += f", {end - start} ms"
        bars.append({"label": label, "cls": cls, "title": title, "x": round(100 * max(0, lo) / width, 2),
                     "w": round(max(0.3, 100 * (hi - lo) / width), 2)})
    return bars


@router.get("/spark/{job_name}/{run_id}/events.ndjson")
def spark_events_download(job_name: str, run_id: str, store: EventStoreDep,
                          session: UiSession = Depends(current_session)) -> StreamingResponse:
    app = store.app(job_name, run_id, session.principal.sees)
    return StreamingResponse(store.stream_events(app.id), media_type="application/x-ndjson", headers={
        "Content-Disposition": f'attachment; filename="{job_name}-{run_id}-events.ndjson"'})


@router.get("/stream")
async def run_events_stream(request: Request, jobs: JobStoreDep, session: UiSession = Depends(current_session),
                            after: int | None = Query(None, ge=0)) -> StreamingResponse:
    """The API's run-event stream (GET /api/v1/events/stream), authorised by the session cookie,
    since a browser's EventSource cannot send a bearer token: the session's team's events."""
    return await stream_events(request, session.principal, stream_hub_of(request.app), jobs, job=None, run=None,
                               after=after,
                               keepalive=15.0, last_event_id=request.headers.get("Last-Event-ID"))
