"""What the hot endpoints (one run per request, status reads) use to keep per-request cost low:
database reads without a thread-pool hop where that is safe, and answers serialised once, by orjson.

Profiled under `wrk` (bench/bench_submit.py): a point read handed to the thread pool cost more in
the hand-off (and the GIL handed back and forth) than the read itself, and FastAPI's generic
serialisation of a returned dict (validation against `dict[str, Any]`, then `json.dumps`) cost
about as much as the endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from fastapi import FastAPI, Response
from fastapi.routing import APIRoute, iter_route_contexts
from starlette._utils import get_route_path  # the path as routes match it (root_path removed)
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match
from starlette.types import Message, Receive, Scope, Send

from stoker.api.deps import services_of
from stoker.store.db import Database
from stoker.store.quick import ReadPlan

if TYPE_CHECKING:
    from stoker.services import Services

T = TypeVar("T")


async def read_now(db: Database, plan: ReadPlan[T]) -> T:
    """Run a store's read plan (store/quick.py) without a thread where that is safe: on SQLite
    right here on the event loop (in WAL mode a reader never waits for a writer, and a point read
    by primary key takes tens of microseconds, less than the hop to a thread); on PostgreSQL
    through the loop's async connections, one round trip, while the app's lifespan holds them
    open; else in the thread pool (a PostgreSQL read must not stall the loop)."""
    if db.is_sqlite:
        return db.read_plan(plan, quick=True)
    pool = db.loop_pool()
    if pool is not None:
        return await pool.read(plan)
    return await run_in_threadpool(db.read_plan, plan)


async def write_now(services: Services, work: Callable[[], T]) -> T:
    """Run write work (its own store transactions) without stalling the loop: on SQLite on the
    group committer's thread, in turn with the run submits (GroupCommitter.call: SQLite writes one
    transaction at a time, and request threads contending for it convoy on the GIL); on
    PostgreSQL, which writes in parallel, in the thread pool."""
    if services.db.is_sqlite:
        return await services.group_commit.call(work)
    return await run_in_threadpool(work)


def json_response(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer serialised in one step. Routes that return it declare `response_model` so the
    OpenAPI document still shows their shape."""
    return Response(orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS), status_code=status_code,
                    headers=headers, media_type="application/json")


# A hot operation's quick answer: a Response, or None when the request is not one it takes (the
# operation's own route then answers it, as it always did).
QuickAnswer = Callable[["QuickRequest"], Awaitable[Response | None]]


class QuickRequest:
    """What a quick answer reads of a request: the services, the path parameters, the headers,
    and the body (read once, and replayed to the route if the quick answer declines)."""

    __slots__ = ("_body", "_receive", "path_params", "scope", "services")

    def __init__(self, scope: Scope, receive: Receive, path_params: dict[str, str]) -> None:
        self.scope = scope
        self.services: Services = services_of(scope["app"])
        self.path_params = path_params
        self._receive = receive
        self._body: bytes | None = None

    @property
    def headers(self) -> Headers:
        return Headers(scope=self.scope)

    async def body(self) -> bytes:
        if self._body is None:
            chunks = []
            while True:
                message = await self._receive()
                if message["type"] != "http.request":  # the client went away: the route will see it too
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            self._body = b"".join(chunks)
        return self._body

    async def json_body(self) -> Any:
        """The body as JSON when it plainly is (labelled `application/json`, and parsed by the
        parser FastAPI uses, so the same text means the same values), else None: the route, which
        reads bodies the one documented way, answers those."""
        media_type = self.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json":
            return None
        try:
            return json.loads(await self.body())
        except ValueError:  # not JSON, or not UTF-8
            return None

    def receive_for_route(self) -> Receive:
        """What the route reads as its body: the original stream, or the bytes already read."""
        if self._body is None:
            return self._receive
        replayed = False
        body, receive = self._body, self._receive

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # http.disconnect when the client goes
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay


class QuickRoute(BaseRoute):
    """The common case of one hot operation, answered without FastAPI's per-request machinery.

    Profiled under wrk (bench/bench_submit.py), a status read spent a fifth of its CPU solving
    dependencies and an eighth matching ~90 routes in order; a submit as much. A QuickRoute stands
    first in the app's routes, matches its operation's path and method only, and calls its quick
    answer, which does the same work as the endpoint through the same functions (`authorize`, the
    store, the views). Anything the quick answer declines (a query string, a body that does not
    validate) is handed to the operation's own route with the body replayed, so every refusal keeps
    its one documented shape; exceptions raised (401, 403, 404, 409) reach the app's exception
    handlers as the route's own do. The route stays where it was: the OpenAPI document, the route
    guards and the 405 answers come from it."""

    def __init__(self, route: APIRoute, answer: QuickAnswer) -> None:
        self.route = route
        self.answer = answer
        self.methods = route.methods or set()

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] not in self.methods:
            return Match.NONE, {}
        found = self.route.path_regex.match(get_route_path(scope))
        if found is None:
            return Match.NONE, {}
        return Match.FULL, {"path_params": found.groupdict(), "route": self.route, "endpoint": self.route.endpoint}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = QuickRequest(scope, receive, scope["path_params"])
        response = await self.answer(request)
        if response is None:
            await self.route.handle(scope, request.receive_for_route(), send)
        else:
            await response(scope, receive, send)


def install_quick_routes(app: FastAPI, answers: dict[tuple[str, str], QuickAnswer]) -> None:
    """Put a QuickRoute for each (method, path) first in the app's routes. Each operation must be
    a route already, and no earlier route may match its paths (it would have answered them)."""
    routes = {(method, context.path): context.original_route
              for context in iter_route_contexts(app.routes) if context.path is not None
              for method in (context.methods or ())}
    quick = []
    for (method, path), answer in answers.items():
        route = routes.get((method, path))
        if not isinstance(route, APIRoute):
            raise ValueError(f"no API route {method} {path} to answer quickly")
        # A route whose path the quick one matches too (`/runs/stream` beside `/runs/{run_id}`)
        # would lose its requests to it, wherever it stood.
        shadowed = [f"{m} {p}" for (m, p) in routes if m == method and p != path and route.path_regex.match(p)]
        if shadowed:
            raise ValueError(f"{method} {path} would answer requests meant for {', '.join(shadowed)}")
        quick.append(QuickRoute(route, answer))
    app.router.routes[0:0] = quick
