"""The Delight agent's collector protocol (`co.datamechanics:delight`, DelightStreamingConnector):
point `spark.delight.collector.url` at `<stoker>/collector` and its access token
(`spark.delight.accessToken.secret`) at a Stoker token with the `ingest` scope.

What the agent sends (from its source; every request a POST with `X-API-key: <token>` and the
JSON as a `text/plain; charset=ISO-8859-1` StringEntity):
- `/bulk`: `{"dmAppId","sentAt","counters":{"messageCounter","payloadCounter"},"data"}`, `data`
  being base64 of the gzip of the events (Spark's JsonProtocol, one per line, each line ending in
  "\\n"); messageCounter counts every event sent so far, this payload's included;
- `/heartbeat` every 10 s and `/ack` once the application ended: `{"dmAppId"}`.

What it does with the answers (Network.sendRequest): 200 is success and nothing else is; any other
status raises, and a failed bulk is kept and sent again with the polling interval doubled (up to 60
s), with the same payloadCounter, and, when more events were flushed meanwhile, more events and a
larger messageCounter. 429 stops its collection for the rest of the application: Stoker never
answers 429. Back-pressure is 503 with Retry-After: the agent keeps its events and retries later.

A bulk becomes a collector payload (seed-apis.md §4) and goes through the same check and store as
the listener's: job_name is the application name the agent put in dmAppId (its `<app name>-<uuid>`
form; else the whole dmAppId), run_id the dmAppId, every event's generated_at the bulk's sentAt (the
agent records no time per event; the events' own Timestamps carry the times, and their order is
the agent's). A retry is a duplicate when its counters were stored; one that grew stores only the
events past those stored.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from stoker.api.auth import require
from stoker.api.body_limit import read_capped
from stoker.compat.sate import SateRoute
from stoker.core.errors import InvalidInput, StokerError
from stoker.events.intake import body_limits, gunzip_capped, ingest, last_chunk
from stoker.store.tokens import Principal

log = logging.getLogger(__name__)

router = APIRouter(prefix="/collector", tags=["Delight agent"], route_class=SateRoute)

_UUID_TAIL = re.compile(r"^(?P<name>.+)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MAX_APP_ID = 200  # the collector's limit on job_name and run_id
# Bulks decoded and stored at once by this process; past it a bulk is answered 503 at once.
MAX_IN_FLIGHT = 8


class Malformed(StokerError):
    status_code = 400


class Busy(StokerError):
    status_code = 503


def names(dm_app_id: str) -> tuple[str, str]:
    """(job_name, run_id) of a dmAppId: `<sanitized app name>-<uuid>` → (the name, the dmAppId)."""
    found = _UUID_TAIL.match(dm_app_id)
    return (found.group("name") if found else dm_app_id), dm_app_id


async def _body(request: Request, limit: int) -> dict[str, Any]:
    raw = await read_capped(request, limit)
    try:  # the agent's StringEntity is ISO-8859-1; UTF-8 is what JSON clients send
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    try:
        body = json.loads(text) if text.strip() else None
    except json.JSONDecodeError as exc:
        raise Malformed(f"malformed JSON body: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidInput('the body must be a JSON object with "dmAppId"')
    app_id = body.get("dmAppId")
    if not isinstance(app_id, str) or not 0 < len(app_id) <= MAX_APP_ID or "/" in app_id:
        raise InvalidInput(f"`dmAppId` must be a string of 1 to {MAX_APP_ID} characters without '/'")
    return body


def _int(body: dict[str, Any], *path: str) -> int:
    value: Any = body
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if type(value) is not int or value < 0:
        raise InvalidInput(f"`{'.'.join(path)}` must be a non-negative integer, not {value!r}")
    return value


def _events(data: Any, cap: int) -> list[str]:
    if not isinstance(data, str):
        raise InvalidInput("`data` must be a string: base64 of the gzipped events, one per line")
    try:
        packed = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Malformed(f"`data` is not base64: {exc}") from None
    try:
        text = gunzip_capped(packed, cap).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Malformed(f"`data` is not UTF-8 text once gunzipped: {exc}") from None
    return [line for line in text.split("\n") if line.strip()]


def _payload(job_name: str, run_id: str, sent_at: int, payload_counter: int, message_counter: int,
             messages: list[dict[str, Any]]) -> bytes:
    return json.dumps({"job_name": job_name, "run_id": run_id, "sent_at": sent_at,
                       "counters": {"message_counter": message_counter, "payload_counter": payload_counter},
                       "messages": messages}, ensure_ascii=False).encode()


class InFlight:
    """Bulks in progress in one app, at most MAX_IN_FLIGHT; one more is Busy (503) at once: the
    agent keeps the bulk and retries with its back-off, so a slow store slows the agent instead of
    piling up requests. Held on the app, not the module (two apps in one process count apart); no
    lock: the check and the count run on the event loop with no await between them."""

    def __init__(self, limit: int = MAX_IN_FLIGHT) -> None:
        self.limit = limit
        self.count = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if self.count >= self.limit:
            raise Busy("the collector is busy: keep the events and retry shortly")
        self.count += 1
        try:
            yield
        finally:
            self.count -= 1


def in_flight(app: Any) -> InFlight:
    """The app's count of bulks in progress (made on first use, on the event loop's thread: no race)."""
    found: InFlight | None = getattr(app.state, "delight_in_flight", None)
    if found is None:
        found = app.state.delight_in_flight = InFlight()
    return found


def _busy_answer(exc: Busy) -> JSONResponse:
    return JSONResponse({"message": exc.message}, status_code=503, headers={"Retry-After": "2"})


@router.post("/bulk", summary="The Delight agent's bulk of events (base64 of gzipped NDJSON)",
             response_model=None)
async def bulk(request: Request, principal: Principal = Depends(require("ingest"))) -> JSONResponse:
    try:
        with in_flight(request.app).slot():
            return await _bulk(request, principal.ingest_team)
    except Busy as exc:
        return _busy_answer(exc)


async def _bulk(request: Request, team: str | None) -> JSONResponse:
    limits = body_limits(request.app.state)
    # base64 makes the gzip a third larger; the JSON around it is small.
    body = await _body(request, limits.max_compressed_bytes * 4 // 3 + 64 * 1024)
    job_name, run_id = names(body["dmAppId"])
    sent_at = _int(body, "sentAt")
    message_counter = _int(body, "counters", "messageCounter")
    payload_counter = _int(body, "counters", "payloadCounter")
    events = _events(body.get("data"), limits.max_decompressed_bytes)
    first = message_counter - len(events)  # how many events the agent had sent before these
    if first < 0:
        raise InvalidInput(f"`counters.messageCounter` ({message_counter}) is smaller than the number of "
                           f"events in `data` ({len(events)})")
    last = await last_chunk(request.app.state, job_name, run_id)
    if last is not None and last[0] == payload_counter:
        # This payload was stored already (its answer was lost); a retry may carry more events.
        if message_counter <= last[1]:
            return JSONResponse({"status": "duplicate", "events": 0})
        events = events[max(0, last[1] - first):]
    if not events:
        return JSONResponse({"status": "stored", "events": 0})
    messages = [{"message_type": "spark-event", "generated_at": sent_at, "content": line} for line in events]
    result = await ingest(request.app.state, _payload(job_name, run_id, sent_at, payload_counter,
                                                      message_counter, messages), team)
    return JSONResponse({"status": result.status, "events": result.events})


async def _alive(request: Request, what: str, team: str | None) -> JSONResponse:
    body = await _body(request, 64 * 1024)
    job_name, run_id = names(body["dmAppId"])
    now_ms = int(time.time() * 1000)
    await ingest(request.app.state, _payload(job_name, run_id, now_ms, 0, 0,
                                             [{"message_type": "heartbeat", "generated_at": now_ms}]), team)
    if what == "ack":
        log.info("Delight agent of %s/%s: all events sent (ack)", job_name, run_id)
    return JSONResponse({"status": what})


@router.post("/heartbeat", summary="The Delight agent's heartbeat (every 10 s): the app is alive",
             response_model=None)
async def heartbeat(request: Request, principal: Principal = Depends(require("ingest"))) -> JSONResponse:
    return await _alive(request, "heartbeat", principal.ingest_team)


@router.post("/ack", summary="The Delight agent's acknowledgement: the app ended, its events are sent",
             response_model=None)
async def ack(request: Request, principal: Principal = Depends(require("ingest"))) -> JSONResponse:
    return await _alive(request, "ack", principal.ingest_team)
