"""`GET /api/v1/events/stream`: run events as server-sent events, straight from the outbox.

The stream's cursor is the client's: each message's `id` is the outbox seq, so a client that
reconnects with `Last-Event-ID` (browsers do it by themselves) or `?after=<seq>` misses nothing.
Without either, the stream starts at the newest event. Messages carry no `event:` field: every
message is a plain `message` whose JSON data says which event it is, so `EventSource.onmessage`
sees them all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from stoker.api.auth import require
from stoker.api.deps import JobStoreDep, StreamHub, StreamHubDep
from stoker.core.errors import InvalidInput
from stoker.sinks.events import Event
from stoker.store.tokens import Principal

router = APIRouter(prefix="/api/v1/events", tags=["events"])

BATCH = 500
FALLBACK_POLL_SECONDS = 1.0  # for events written by other processes (no local wake-up for those)
RECONNECT_MS = 2000


def format_event(event: Event) -> bytes:
    return b"id: %d\ndata: %s\n\n" % (event.seq, orjson.dumps(event.document()))


@router.get(
    "/stream", summary="Run events as server-sent events (filter by job or run; resume by event id)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    request: Request,
    principal: Annotated[Principal, Depends(require("read"))],
    hub: StreamHubDep,
    jobs: JobStoreDep,
    job: str | None = Query(None, description="only this job's runs (name or id)"),
    run: str | None = Query(None, description="only this run"),
    after: int | None = Query(None, ge=0, le=2**63 - 1, description="start after this event id (0: from the oldest)"),
    keepalive: float = Query(15.0, ge=0.05, le=300, description="seconds between keep-alive comments"),
    last_event_id: str | None = Header(None, alias="Last-Event-ID"),
) -> StreamingResponse:
    job_ids = None
    if job is not None:
        job_ids = [(await run_in_threadpool(jobs.get, job, principal.sees)).id]  # 404 if unknown (or another team's)
    if last_event_id:  # a reconnect: it knows better than the URL it reconnects to
        if not last_event_id.isdigit():
            raise InvalidInput(f"Last-Event-ID must be an event id (an integer), got {last_event_id!r}")
        start = int(last_event_id)
    elif after is not None:
        start = after
    else:
        start = await run_in_threadpool(hub.feed.horizon)
    # The token's team's events only (an admin's: every team's).
    body = _events(request, hub, start, job_ids, run, keepalive, None if principal.admin else principal.team)
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _events(request: Request, hub: StreamHub, position: int, job_ids: list[str] | None,
                  run_id: str | None, keepalive: float, team: str | None) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    read = partial(hub.feed.read, limit=BATCH, job_ids=job_ids, run_id=run_id, team=team)
    with hub.signal.subscribe() as sub:
        # The first bytes flush the headers, so the client knows it is connected before any event.
        yield b"retry: %d\n: connected, after %d\n\n" % (RECONNECT_MS, position)
        ping_at = loop.time() + keepalive
        while True:
            sub.arm()
            events, position = await run_in_threadpool(read, position)
            if events:
                yield b"".join(format_event(e) for e in events)
                ping_at = loop.time() + keepalive
                continue
            if loop.time() >= ping_at:
                yield b": keep-alive\n\n"  # keeps proxies from closing an idle stream
                ping_at = loop.time() + keepalive
            if await request.is_disconnected():
                return
            await sub.wait(max(0.0, min(ping_at - loop.time(), FALLBACK_POLL_SECONDS)))
