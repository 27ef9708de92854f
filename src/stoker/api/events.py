"""The Spark event collector over HTTP: `POST /collect` (the listener's endpoint, seed-apis.md §4)
and the native read API of collected events (the collector itself is `stoker.events`)."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from stoker.api.auth import require
from stoker.api.body_limit import read_capped
from stoker.api.deps import EventStoreDep, PayloadCheckerDep
from stoker.api.schemas import CollectAck, Duration, JobList, RunList, Summary
from stoker.events.body import BodyLimits
from stoker.events.store import duration_view, summary_view
from stoker.store.tokens import Principal

router = APIRouter(tags=["spark events"])


NDJSON = "application/x-ndjson"


_PAYLOAD_DOC = {
    "requestBody": {
        "required": True,
        "description": "A collector payload, gzipped (with or without `Content-Encoding: gzip`) "
                       "or plain JSON.",
        "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["job_name", "run_id", "counters", "messages"],
            "properties": {
                "job_name": {"type": "string"}, "run_id": {"type": "string"},
                "sent_at": {"type": "integer"},
                "counters": {"type": "object", "properties": {
                    "message_counter": {"type": "integer"}, "payload_counter": {"type": "integer"}}},
                "messages": {"type": "array", "items": {"type": "object", "properties": {
                    "message_type": {"type": "string", "enum": ["spark-event", "heartbeat"]},
                    "generated_at": {"type": "integer", "description": "epoch milliseconds"},
                    "content": {"type": "string", "description": "one Spark event as JSON"}}}},
            }}}},
    }
}


def _limits(request: Request) -> BodyLimits:
    return getattr(request.app.state, "event_body_limits", None) or BodyLimits()


@router.post("/collect", response_model=CollectAck, openapi_extra=_PAYLOAD_DOC,
             summary="Store a payload of Spark listener events (the listener posts here)")
async def collect(request: Request, store: EventStoreDep, checker: PayloadCheckerDep,
                  principal: Principal = Depends(require("ingest"))) -> Response:
    limits = _limits(request)
    body = await read_capped(request, limits.max_compressed_bytes)
    # Checking is CPU work, done in helper processes (checking.py); storing is database work, in a
    # thread: neither on the event loop.
    payload = await checker.check(body, limits)
    result = await run_in_threadpool(lambda: store.ingest(payload, body, team=principal.ingest_team))
    request.app.state.process_metrics.ingested(len(body), result.events)
    # The acknowledgement is two fixed fields: written directly, not validated by the response model.
    return Response(b'{"status":"%s","events":%d}' % (result.status.encode(), result.events),
                    media_type="application/json")


@router.get("/api/v1/spark/jobs", response_model=JobList, summary="Job names with Spark events")
def list_jobs(store: EventStoreDep, principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    return {"jobs": store.job_names(principal.sees)}


@router.get("/api/v1/spark/jobs/{job_name}/runs", response_model=RunList,
            summary="The runs (Spark apps) of a job")
def list_runs(job_name: str, store: EventStoreDep, principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    return {"job_name": job_name, "runs": [msgspec.structs.asdict(r) for r in store.runs(job_name, principal.sees)]}


@router.get("/api/v1/spark/jobs/{job_name}/runs/{run_id}/events",
            response_class=StreamingResponse, summary="A run's events as NDJSON, in time order",
            responses={200: {"content": {NDJSON: {}},
                             "description": "One event per line, exactly as received, sorted by "
                                            "generated_at (ties in arrival order)."}})
def run_events(job_name: str, run_id: str, store: EventStoreDep,
               principal: Principal = Depends(require("read"))) -> StreamingResponse:
    app = store.app(job_name, run_id, principal.sees)  # 404 before the stream starts
    return StreamingResponse(store.stream_events(app.id), media_type=NDJSON)


@router.get("/api/v1/spark/jobs/{job_name}/runs/{run_id}/duration", response_model=Duration,
            summary="Application duration from its start and end Timestamps")
def run_duration(job_name: str, run_id: str, store: EventStoreDep,
                 principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    return duration_view(store.app(job_name, run_id, principal.sees))


@router.get("/api/v1/spark/jobs/{job_name}/runs/{run_id}/summary", response_model=Summary,
            summary="What the application did, maintained at ingest")
def run_summary(job_name: str, run_id: str, store: EventStoreDep,
                principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    return summary_view(store.app(job_name, run_id, principal.sees))
