from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from stoker.api.auth import Reader, Runner, authorize
from stoker.api.deps import DatabaseDep, RunStoreDep, ServicesDep, WakeupDep
from stoker.api.fastpath import QuickRequest, json_response, read_now
from stoker.api.models import BatchCreate, RunCreate
from stoker.api.openapi import CANNOT_START
from stoker.api.paging import Cursor, PageSize, cursor_value
from stoker.api.views import attempt_view, dead_letter_view, run_view
from stoker.core import limits
from stoker.core.errors import InvalidInput, NotFound
from stoker.core.states import RunState
from stoker.services import Services
from stoker.store.db import Database
from stoker.store.records.runs import Run
from stoker.store.runs import RunStore, Submitted
from stoker.store.team_share import quota_reason
from stoker.submission.runs import RunRequest, Submitter

router = APIRouter(prefix="/api/v1", tags=["runs"])


async def created_response(services: Services, submitted: Submitted, team: str | None = None) -> Response:
    """201 for a new run, answered from what was inserted; 200 (and Idempotent-Replayed) when the
    idempotency key matched an earlier run, which is read back."""
    location = f"/api/v1/runs/{submitted.run_id}"
    if submitted.record is not None:
        return json_response(run_view(submitted.record), 201, {"Location": location})
    run = await read_now(services.db, services.runs.read_run(submitted.run_id, team=team))
    return json_response(run_view(run), 200, {"Location": location, "Idempotent-Replayed": "true"})


def list_runs_page(runs_store: RunStore, *, job: str | None, state: RunState | None, limit: int,
                   cursor: str | None, batch_id: str | None = None, team: str | None = None) -> dict[str, Any]:
    runs, next_cursor = runs_store.list(
        job=job, state=state.value if state else None, limit=limit, before_seq=cursor_value(cursor),
        batch_id=batch_id, team=team)
    return {"runs": [run_view(r) for r in runs], "next_cursor": next_cursor}



@router.post("/runs", status_code=201, summary="Submit a run: an ad-hoc pipeline, or a job's",
             response_model=dict[str, Any],
             responses={200: {"description": "a run with this idempotency key exists already: that run, unchanged"},
                        404: {"description": "no such job"},
                        409: CANNOT_START})
async def submit_run(body: RunCreate, services: ServicesDep, principal: Runner,
                     idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> Response:
    """The pipeline is checked against the function catalog first: an unknown function, wrong
    arguments or a last step that is no action answer 422 naming the step, and nothing is queued.
    A Spark pipeline reading a local file is also checked by Spark's analyser against the file's
    schema (as `POST /api/v1/runs/explain` does): an unknown column answers 422 naming the step,
    the `column` and Spark's `suggestion`."""
    if (body.steps is None) == (body.job is None):
        raise InvalidInput("give either `steps` (an ad-hoc pipeline) or `job` (a job's name), not both")
    submitted = await Submitter(services).submit_async(
        RunRequest(steps=body.steps, params=body.params, options=body.options, priority=body.priority,
                   conf=body.conf or {}, idempotency_key=idempotency_key or body.idempotency_key,
                   team=principal.team), job_name=body.job)
    return await created_response(services, submitted, principal.team)


@router.get("/runs", summary="List the team's runs, newest first (filter by job and state; paginated)")
def list_runs(runs: RunStoreDep, principal: Reader, job: str | None = None, state: RunState | None = None,
              limit: PageSize = 50, cursor: Cursor = None) -> dict[str, Any]:
    return list_runs_page(runs, job=job, state=state, limit=limit, cursor=cursor, team=principal.sees)


@router.get("/runs/{run_id}", summary="A run with its attempts, result and error",
            response_model=dict[str, Any])
async def get_run(run_id: str, db: DatabaseDep, runs: RunStoreDep, wakeup: WakeupDep, principal: Reader,
                  wait_seconds: float = Query(0, ge=0, le=limits.MAX_WAIT_SECONDS,
                                              description="long-poll: answer as soon as the run is finished, "
                                                          "or after this many seconds")) -> Response:
    async def read() -> Run:
        return await read_now(db, runs.read_run(run_id, team=principal.sees))

    # Waiting holds no thread (thousands of long-polls leave the thread pool to other requests);
    # woken by local finishes, and the recheck keeps finishes in other processes visible.
    run = await wakeup.poll_async(read, lambda r: RunState(r.state).terminal,
                                  seconds=wait_seconds, recheck=0.25)
    return json_response(await _with_waiting(db, run))


async def _with_waiting(db: Database, run: Run) -> dict[str, Any]:
    """A run's view; a QUEUED run's says why it waits when its team is at its quota (docs/teams.md),
    or, for a container run, when no host has room for it (docs/hosts.md)."""
    view = run_view(run)
    if run.state == RunState.QUEUED.value:
        view["waiting_for"] = await run_in_threadpool(quota_reason, db, run.team_id) or run.waiting
    return view


async def quick_get_run(request: QuickRequest) -> Response | None:
    """GET /api/v1/runs/{run_id} without a query string (no long-poll): see api/fastpath.py."""
    if request.scope["query_string"]:
        return None
    services = request.services
    principal = await authorize(services, request.headers, "read")
    run = await read_now(services.db, services.runs.read_run(request.path_params["run_id"], team=principal.sees))
    return json_response(await _with_waiting(services.db, run))


@router.post("/runs/{run_id}/cancel", summary="Cancel a run (QUEUED: at once; RUNNING: its worker stops it)",
             responses={202: {"description": "RUNNING: the cancel is requested; its worker stops it"},
                        409: {"description": "the run has finished already"}})
def cancel_run(run_id: str, runs: RunStoreDep, response: Response, principal: Runner) -> dict[str, Any]:
    state = runs.cancel(run_id, team=principal.sees)
    if state == RunState.RUNNING.value:
        response.status_code = 202  # accepted: the worker is stopping it
    return run_view(runs.get(run_id))


@router.post("/runs/{run_id}/retry", summary="Queue a failed or cancelled run again",
             responses={409: {"description": "active (URI of the attempt), succeeded (URI of the result), "
                                             "or attempts used up (recorded on the dead-letter list)"}})
def retry_run(run_id: str, runs: RunStoreDep, principal: Runner) -> dict[str, Any]:
    return run_view(runs.retry(run_id, team=principal.sees))


@router.get("/runs/{run_id}/result", summary="A run's result (404 until it has one)")
def run_result(run_id: str, runs: RunStoreDep, principal: Reader) -> dict[str, Any]:
    run = runs.get(run_id, with_attempts=False, team=principal.sees)
    if run.state != RunState.SUCCEEDED.value:
        raise NotFound(f"run {run_id} has no result: it is {run.state}", state=run.state)
    return {"run_id": run_id, "result": run.result}


@router.get("/runs/{run_id}/attempts/{number}", summary="One attempt of a run")
def get_attempt(run_id: str, runs: RunStoreDep, principal: Reader,
                number: int = Path(ge=1, le=limits.MAX_ATTEMPT_NUMBER)) -> dict[str, Any]:
    return attempt_view(runs.attempt(run_id, number, team=principal.sees))


@router.get("/dead-letters", summary="Runs that used up their attempts (kind `exhausted`), and refused "
                                     "retries (kind `retry_refused`)")
def list_dead_letters(runs: RunStoreDep, principal: Reader, job: str | None = None, run: str | None = None,
                      request_id: str | None = Query(None, alias="request", max_length=200,
                                                     description="a seed API's request id (Sate: the "
                                                                 "processing request): its refused executions"),
                      limit: PageSize = 50, cursor: Cursor = None) -> dict[str, Any]:
    entries, next_cursor = runs.dead_letters(
        job=job, run_id=run, request_id=request_id, limit=limit, before_id=cursor_value(cursor),
        team=principal.sees)
    return {"dead_letters": [dead_letter_view(e) for e in entries], "next_cursor": next_cursor}


@router.get("/runs/{run_id}/log", summary="The driver log of a run's attempt (default: the latest)",
            response_class=PlainTextResponse)
def run_log(run_id: str, runs: RunStoreDep, principal: Reader,
            attempt: int | None = Query(None, ge=1, le=limits.MAX_ATTEMPT_NUMBER)) -> PlainTextResponse:
    number, text = runs.attempt_log(run_id, attempt, team=principal.sees)
    return PlainTextResponse(text, headers={"X-Stoker-Attempt": str(number)})


@router.post("/batches", status_code=201, summary="Submit N runs at once (one transaction)",
             responses={404: {"description": "no such job"},
                        409: CANNOT_START})
def submit_batch(body: BatchCreate, services: ServicesDep, principal: Runner) -> dict[str, Any]:
    if (body.count is None) == (body.params_list is None):
        raise InvalidInput("give either `count` or `params_list`")
    if body.steps is not None and body.job is not None:
        raise InvalidInput("give either `steps` or `job`, not both")
    submitter = Submitter(services)
    if body.count is not None:
        # N identical runs: validate once, queue N copies.
        batch_id, submitted = submitter.submit_batch(
            [RunRequest(steps=body.steps, options=body.options, conf=body.conf or {}, team=principal.team)],
            job_name=body.job, copies=body.count)
    else:
        batch_id, submitted = submitter.submit_batch(
            [RunRequest(steps=body.steps, params=p, options=body.options, conf=body.conf or {}, team=principal.team)
             for p in body.params_list or []],
            job_name=body.job)
    return {"batch_id": batch_id, "run_ids": [s.run_id for s in submitted],
            "links": {"self": f"/api/v1/batches/{batch_id}"}}


@router.get("/batches/{batch_id}", summary="How many runs of a batch are in each state")
def get_batch(batch_id: str, runs: RunStoreDep, principal: Reader) -> dict[str, Any]:
    counts = runs.count_by_state(batch_id=batch_id, team=principal.sees)
    if not counts:
        raise NotFound(f"no batch with id {batch_id!r}")
    return {"batch_id": batch_id, "total": sum(counts.values()), "states": counts,
            "done": all(RunState(s).terminal for s in counts)}
