"""The Speedy Gonzales API (seed-apis.md §1), as a thin adapter: a Speedy job is a Stoker run."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import AfterValidator, BaseModel, Field, ValidationError

from stoker.api.auth import Reader, Runner, authorize, require
from stoker.api.deps import ServicesDep
from stoker.api.fastpath import QuickRequest, json_response, read_now
from stoker.api.views import claimed_view
from stoker.core import limits
from stoker.core.secret_refs import SecretUnavailable
from stoker.core.states import Outcome
from stoker.services import Services
from stoker.store.queue import Ending
from stoker.submission.runs import RunRequest, Submitter

router = APIRouter(prefix="/jobs", tags=["Speedy Gonzales API"])


class SpeedySubmit(BaseModel):
    # Free-form JSON within the limits of core/limits.py, as the native API takes it.
    steps: Annotated[list[Any], Field(max_length=limits.MAX_STEPS), AfterValidator(limits.check_json)] = Field(
        ..., examples=[[["range", 10], ["count"]]])
    options: Annotated[dict[str, Any], AfterValidator(limits.check_json)] = Field(default_factory=dict,
                                    description="`s3` holds aws_access_key_id / aws_secret_access_key")


@router.post("/submit", summary="Queue a job of steps; answers its job_id", response_model=dict[str, str])
async def submit(body: SpeedySubmit, services: ServicesDep, principal: Runner) -> Response:
    return await _submit(services, body, principal.team)


async def quick_submit(request: QuickRequest) -> Response | None:
    """POST /jobs/submit with a plain JSON body (see api/fastpath.py): FastAPI's order, JSON, then
    the token, then the body's fields; the route answers whatever this declines."""
    data = await request.json_body()
    if data is None:
        return None
    principal = await authorize(request.services, request.headers, "run")
    try:
        body = SpeedySubmit.model_validate(data)
    except ValidationError:
        return None
    return await _submit(request.services, body, principal.team)


async def _submit(services: Services, body: SpeedySubmit, team: str) -> Response:
    submitted = await Submitter(services).submit_async(RunRequest(steps=body.steps, options=body.options, team=team))
    return json_response({"job_id": submitted.run_id})


@router.get("/pop", summary="Take the first queued job: the submitted body plus its id (204 when empty)",
            dependencies=[Depends(require("worker"))], response_model=None,
            responses={204: {"description": "the queue is empty"}})
def pop(services: ServicesDep, response: Response, worker_id: str = "speedy-pop") -> Response | dict[str, Any]:
    """The body is Speedy's, `{"job_id", "options", "steps"}`, options.s3 included: the popping
    Spark process is the one that needs it (the only place it is shown). The job is leased to the
    caller, who heartbeats and finishes it through the links in the headers (the worker protocol:
    `X-Stoker-Attempt`, `X-Stoker-Lease-Expires`, `Link`); if it never does, the lease expires and
    the job is queued again."""
    # Speedy's popper is a Spark process: container runs are left to workers with a runtime.
    claimed = services.queue.claim(worker_id, limit=1, lease_seconds=services.settings.lease_seconds,
                                   lanes=("spark", "instant"))
    if not claimed:
        return Response(status_code=204)
    try:
        resolved = services.secret_store.resolve(claimed[0])
    except SecretUnavailable as exc:  # fails at once, like a worker's claim of it (api/worker.py)
        services.queue.finish(Ending(claimed[0].attempt_id, Outcome.FAILED, error=str(exc), permanent=True))
        return Response(status_code=204)
    view = claimed_view(claimed[0], resolved)
    response.headers["X-Stoker-Attempt"] = view["attempt_id"]
    response.headers["X-Stoker-Lease-Expires"] = view["lease_expires_at"]
    response.headers["Link"] = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in view["links"].items())
    return {"job_id": view["run_id"], "options": view["options"], "steps": view["steps"]}


@router.get("/status/{job_id}", summary="QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED or NOT_FOUND",
            response_model=dict[str, str],
            responses={404: {"description": "no such job: {\"status\": \"NOT_FOUND\"}"}})
async def status(job_id: str, services: ServicesDep, principal: Reader) -> Response:
    return await _status(services, job_id, principal.sees)


async def quick_status(request: QuickRequest) -> Response:
    """GET /jobs/status/{job_id}: the route's work without its per-request machinery (api/fastpath.py)."""
    principal = await authorize(request.services, request.headers, "read")
    return await _status(request.services, request.path_params["job_id"], principal.sees)


async def _status(services: Services, job_id: str, team: str | None) -> Response:
    state = await read_now(services.db, services.runs.read_state(job_id, team))
    if state is None:
        return json_response({"status": "NOT_FOUND"}, 404)
    return json_response({"status": state})
