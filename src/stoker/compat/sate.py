"""The Sate API (seed-apis.md §5) as a thin adapter, shaped as its gateway answered: a processing
request is a run of the job `sate` (store/sate.py), an execution one attempt of it. Every error on
these routes answers Sate's {"message": "..."}; the gateway rules run before the body is looked at,
as the original's gateway checked them before it created anything."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from stoker.api.auth import Reader, Runner
from stoker.api.deps import RunStoreDep, ServicesDep
from stoker.api.fastpath import write_now
from stoker.core import limits
from stoker.core.errors import Conflict, InvalidInput, NotFound
from stoker.store.sate import SateStore
from stoker.submission.runs import RunRequest, Submitter

if TYPE_CHECKING:
    from stoker.services import Services
    from stoker.store.runs import NewRun

PING = ["sate_ping"]
FORCED = ["fail", "force_error: this execution was asked to fail"]
REQUEST_SHAPE = '{"payload": ...}'
EXECUTION_SHAPE = '{"force_error": true|false}'
RequestId = Annotated[str, Path(max_length=limits.MAX_ID)]


class SateRoute(APIRoute):
    """Errors of these routes in Sate's shape, {"message": ...}, with the status and headers the app's
    own handlers give them: registered on the Sate routes only, the rest of the app is untouched."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def sate_shaped(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                handle = _app_handler(request, exc)
                if handle is None:
                    raise  # a bug stays a bug (500), never a 4xx
                return _as_message(await handle(request, exc))

        return sate_shaped


def _app_handler(request: Request, exc: Exception) -> Any:
    handlers = request.app.exception_handlers
    return next((handlers[cls] for cls in type(exc).__mro__ if cls in handlers), None)


def _as_message(response: Response) -> Response:
    detail = orjson.loads(bytes(response.body)).get("detail")
    message = detail if isinstance(detail, str) else orjson.dumps(detail).decode()
    headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
    return JSONResponse({"message": message}, status_code=response.status_code, headers=headers)


async def raw_body(request: Request) -> bytes:
    """The body unparsed: an execution's body is checked only after the gateway rules passed."""
    return await request.body()


router = APIRouter(tags=["Sate API"], route_class=SateRoute)


def _body(raw: bytes, shape: str) -> dict[str, Any]:
    if not raw.strip():
        raise InvalidInput(f"the body is missing: send {shape}")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON ({exc}): send {shape}") from exc
    if not isinstance(body, dict):
        raise InvalidInput(f"the body must be a JSON object: {shape}")
    try:
        limits.check_json(body, "body")  # what the store can keep (core/limits.py)
    except limits.JsonTooBig as exc:
        raise InvalidInput(str(exc)) from exc
    return body


def _run_of(services: Services, payload: Any, team: str, force_error: bool = False, *,
            check_columns: bool = True) -> NewRun:
    """What a payload runs, through the submission service (validation, secrets, job kind): a payload
    with Stoker `steps` or a registered `job` runs those; any other payload, of any type, the
    built-in processor. A truthy force_error makes the execution fail first. `check_columns`:
    Spark's analysis of a pipeline over a local file (catalog/submit_check.py), done when the
    request is created, not again on the write path of each execution."""
    submitter = Submitter(services)
    if isinstance(payload, dict) and ("steps" in payload or "job" in payload):
        options = payload.get("options", {})
        if not isinstance(options, dict):
            raise InvalidInput("payload.options must be an object")
        if "job" in payload:
            job = services.runs.jobs.get(str(payload["job"]), team)
            params = payload.get("params")
            if not isinstance(params, dict):  # the payload itself, but for what is not a parameter
                params = {k: v for k, v in payload.items() if k not in ("job", "options")}
            new = submitter.prepare(RunRequest(params=params, options=options, team=team), job,
                                    check_columns=check_columns)
        else:
            new = submitter.prepare(RunRequest(steps=payload["steps"], options=options, team=team), None,
                                    check_columns=check_columns)
    else:
        new = submitter.prepare(RunRequest(steps=[PING], team=team), None)
    if force_error:
        steps = [FORCED, *(new.steps or [])]
        new = dataclasses.replace(new, steps=steps, lane=services.catalog.route(steps).lane)
    return new


@router.post("/requests", status_code=201, summary="Create a processing request ({\"payload\": anything})",
             response_model=None,
             openapi_extra={"requestBody": {"content": {"application/json": {
                 "example": {"payload": {"message": "ping"}}}}}})
def create_request(services: ServicesDep, principal: Runner, raw: bytes = Depends(raw_body)) -> dict[str, Any]:
    """The body is kept as sent (extra fields too) and answered with its id. A payload of Stoker
    `steps` or a `job` is validated now; its options.s3 is sealed and shown redacted."""
    body = _body(raw, REQUEST_SHAPE)
    if "payload" not in body:
        raise InvalidInput(f"the processing request has no 'payload': send {REQUEST_SHAPE}")
    new = _run_of(services, body["payload"], principal.team)
    payload = body["payload"]
    if isinstance(payload, dict) and "options" in payload:
        body = {**body, "payload": {**payload, "options": new.options}}  # the secrets only sealed
    return SateStore(services.runs, team=principal.team).create_request(body, new.secrets).view()


@router.post("/requests/{request_id}/executions", status_code=201, summary="Execute a processing request",
             response_model=None,
             openapi_extra={"requestBody": {"content": {"application/json": {
                 "example": {"force_error": False}}}}},
             responses={404: {"description": "unknown request"},
                        409: {"description": "an execution is active, the request already succeeded, "
                                             "or it failed too often (published as a dead letter)"},
                        422: {"description": "the body is not an object with force_error"}})
async def create_execution(request_id: RequestId, services: ServicesDep, principal: Runner,
                           raw: bytes = Depends(raw_body)) -> dict[str, Any]:
    return await write_now(services, lambda: _create_execution(services, request_id, raw, principal.sees))


def _create_execution(services: Services, request_id: str, raw: bytes, team: str | None) -> dict[str, Any]:
    sate = SateStore(services.runs, team=team)
    refusal = sate.refusal(request_id)
    if refusal is not None:
        raise _sate_refusal(refusal, request_id)
    body = _body(raw, EXECUTION_SHAPE)
    if "force_error" not in body:
        raise InvalidInput(f"specify the force_error property: send {EXECUTION_SHAPE}")
    request = sate.request(request_id)
    try:
        return sate.execute(request_id, body, _run_of(services, request.body["payload"], request.team,
                                                      bool(body["force_error"]), check_columns=False))
    except Conflict as exc:
        raise _sate_refusal(exc, request_id) from exc


def _sate_refusal(refusal: Conflict, request_id: str) -> Conflict:
    details = refusal.details
    if "results" in details:
        text = (f"processing request {request_id} was already processed successfully and is never "
                f"processed again; its results: /requests/{request_id}/results")
    elif "active_attempt" in details:
        text = (f"processing request {request_id} is being processed at the moment; wait for its result "
                f"at /requests/{request_id}/results before executing it again")
    elif "dead_letters" in details:
        text = (f"processing request {request_id} failed the maximum number of times and will not be "
                f"executed again; this refused execution was published to the dead-letter topic "
                f"(/api/v1/dead-letters?request={request_id})")
    else:
        text = refusal.message
    return Conflict(text, **details)


@router.get("/requests/{request_id}/results", summary="Results of a processing request's executions",
            response_model=None)
def request_results(request_id: RequestId, runs: RunStoreDep, principal: Reader) -> dict[str, Any]:
    sate = SateStore(runs, team=principal.sees)
    sate.request(request_id)  # 404 for an unknown request
    return {"results": sate.results(request_id=request_id)}


@router.get("/executions/{execution_id}/results", summary="The result of one execution",
            response_model=None)
def execution_results(execution_id: Annotated[str, Path(max_length=limits.MAX_ID)],
                      runs: RunStoreDep, principal: Reader) -> dict[str, Any]:
    sate = SateStore(runs, team=principal.sees)
    results = sate.results(execution_id=execution_id)
    if not results:
        if not sate.execution_exists(execution_id):
            raise NotFound(f"execution {execution_id} does not exist")
        raise NotFound(f"execution {execution_id} has no result yet")
    return {"results": results}
