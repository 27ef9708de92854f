"""Assembly: `create_app` (routers, error shapes, observability) over the object graph `wiring`
builds; the background duties of a process (`background.py`); the uvicorn server (`server.py`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from stoker import __version__
from stoker.app.background import Background
from stoker.core.errors import StokerError
from stoker.services import Services

log = logging.getLogger(__name__)

__all__ = ["Background", "create_app", "database_error_response"]

DESCRIPTION = """Stoker runs parameterised data jobs on Apache Spark.

Submit a pipeline of catalog functions (`GET /api/v1/functions`) as a run, follow it from QUEUED to
RUNNING to SUCCEEDED, and read its result. Every endpoint but `/healthz` needs a bearer token."""


def create_app(services: Services, *, background: Background | None = None) -> FastAPI:
    from stoker.events.checking import PayloadChecker
    from stoker.events.store import EventStore

    checker = PayloadChecker(services.settings.resolved_ingest_processes())

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        checker.start()
        audit_writer.start()
        if background is not None:
            background.start()
        try:
            async with services.db.loop_reads():  # PostgreSQL reads of the hot endpoints on this loop
                yield
        finally:
            if background is not None:
                background.stop()
            checker.stop()
            audit_writer.stop()

    from stoker.store.audit import AuditWriter
    from stoker.store.secrets import RedactionCache

    audit_writer = AuditWriter(services.audit)

    app = FastAPI(title="Stoker", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url="/docs", openapi_url="/openapi.json")
    app.state.services = services
    app.state.audit_writer = audit_writer  # the audit middleware's entries, written in batches
    app.state.payload_checker = checker  # checks /collect payloads (in helper processes once started)
    # One per app: it caches app ids across requests, and hides secrets' values from what it stores.
    app.state.event_store = EventStore(services.db, redaction=RedactionCache(services.secret_store))
    from stoker.app.explain_spark import ExplainSpark

    app.state.explain_spark = ExplainSpark(background)  # POST /api/v1/runs/explain's Spark
    from stoker.catalog.submit_check import ColumnCheck

    services.column_check = ColumnCheck(services.catalog, app.state.explain_spark.if_ready)  # and the submits'
    _install_error_handlers(app)
    _include_routers(app)
    _install_observability(app, services)
    from stoker import ui

    ui.install(app)  # the web UI's pages under /ui (after the API's routes and error handlers)
    from stoker.api.openapi import install_error_docs

    install_error_docs(app)
    return app


def _install_observability(app: FastAPI, services: Services) -> None:
    """Prometheus metrics in a registry of this app's own, and a request id on every response and
    log line (`X-Request-ID`: the client's when it sends a sane one, else a new one)."""
    from prometheus_client import CollectorRegistry

    from stoker.api.metrics import ProcessMetrics, RequestMetricsMiddleware, StoreCollector

    registry = CollectorRegistry()
    registry.register(StoreCollector(services.db))
    app.state.metrics_registry = registry
    app.state.process_metrics = ProcessMetrics(registry)
    from stoker.api.audit import AuditMiddleware

    app.add_middleware(AuditMiddleware)  # inside the request id: it reads what authorization left
    app.add_middleware(RequestMetricsMiddleware, metrics=app.state.process_metrics)  # and the request id
    # Outermost: an oversized body is refused before anything else reads it. /collect has a cap
    # of its own (events/body.py), larger, enforced as it streams.
    from stoker.api.body_limit import BodySizeLimit
    from stoker.core import limits

    app.add_middleware(BodySizeLimit, max_bytes=limits.MAX_BODY_BYTES, exempt=frozenset({"/collect"}),
                       bulk_bytes=limits.MAX_BULK_BODY_BYTES, bulk_prefixes=limits.BULK_BODY_PATHS,
                       exempt_prefixes=limits.STREAMED_BODY_PATHS)


def _include_routers(app: FastAPI) -> None:
    from stoker.api import (
        audit,
        clusters,
        events,
        explain,
        files,
        functions,
        health,
        hosts,
        jobs,
        metrics,
        run_watch,
        runs,
        schedules,
        secrets,
        stream,
        teams,
        tuning,
        webhooks,
        worker,
    )
    from stoker.compat import delight, paas, sate, speedy, stevedore

    # Routes are matched in order: `/collect`, the busiest endpoint, is tried first.
    for module in (events, health, functions, jobs, schedules, explain, runs, run_watch, worker, metrics, speedy,
                   sate, stevedore, delight, clusters, hosts, paas, stream, webhooks, secrets, files, teams, audit,
                   tuning):
        app.include_router(module.router)
    from stoker.api.fastpath import install_quick_routes

    install_quick_routes(app, {
        ("GET", "/api/v1/runs/{run_id}"): runs.quick_get_run,
        ("POST", "/api/v1/jobs/{job}/runs"): jobs.quick_submit_job_run,
        ("GET", "/jobs/status/{job_id}"): speedy.quick_status,
        ("POST", "/jobs/submit"): speedy.quick_submit,
    })


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StokerError)
    async def _stoker_error(_request: Request, exc: StokerError) -> JSONResponse:
        return JSONResponse({"detail": exc.message, **exc.details}, status_code=exc.status_code)

    from stoker.catalog import PathRefused, PipelineInvalid

    @app.exception_handler(PipelineInvalid)
    async def _pipeline_invalid(_request: Request, exc: PipelineInvalid) -> JSONResponse:
        return JSONResponse({"detail": f"invalid pipeline: {exc}", "problems": exc.problems}, status_code=422)

    @app.exception_handler(PathRefused)
    async def _path_refused(_request: Request, exc: PathRefused) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "step": exc.step, "path": exc.path}, status_code=400)

    from fastapi.exception_handlers import http_exception_handler
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code != 405:
            return await http_exception_handler(request, exc)
        # Starlette names only the methods of the first route matching the path; a path served by
        # several routes (GET and POST /api/v1/jobs) must list them all.
        allowed = sorted(allowed_methods(app, request.url.path) - {"HEAD"})
        return JSONResponse({"detail": f"method {request.method} not allowed here; allowed: {', '.join(allowed)}"},
                            status_code=405, headers={"Allow": ", ".join(allowed)})

    from stoker.store.errors import DatabaseError

    @app.exception_handler(DatabaseError)
    async def _database_error(_request: Request, exc: DatabaseError) -> JSONResponse:
        return database_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"where": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg", "")}
            for err in exc.errors()
        ]
        summary = "; ".join(f"{p['where']}: {p['message']}" for p in problems)
        content_type = request.headers.get("content-type", "")
        if "json" not in content_type and any(tuple(err.get("loc", ())) == ("body",) for err in exc.errors()):
            # `curl -d '{...}'` sends a form: the JSON was there, only its label was wrong.
            summary += (f" (bodies are read as JSON: send Content-Type: application/json; this request said "
                        f"{content_type or 'nothing'})")
        return JSONResponse({"detail": f"invalid request: {summary}", "problems": problems},
                            status_code=422)


def allowed_methods(app: FastAPI, path: str) -> set[str]:
    """The methods of the routes whose template matches `path`, those of the most literal
    templates only: POST /api/v1/runs/explain is its own resource, not a run called "explain"."""
    from fastapi.routing import iter_route_contexts

    by_params: dict[int, set[str]] = {}
    for route in iter_route_contexts(app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            params = str(getattr(route, "path", "")).count("{")
            by_params.setdefault(params, set()).update(route.methods or ())
    return by_params[min(by_params)] if by_params else set()


def database_error_response(exc: Exception) -> JSONResponse:
    """What a client hears when the database fails it: a full disk is 507, an unreachable or
    restarting database 503 with Retry-After (the request changed nothing: its transaction never
    committed), anything else a plain 500 that names no internals."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    if "disk is full" in text or "no space left" in text or "could not extend file" in text:
        return JSONResponse({"detail": "the server's disk is full: nothing was written; retry when "
                                       "an operator has freed space"}, status_code=507)
    from stoker.store.errors import is_unavailable

    if is_unavailable(exc):
        log.warning("database unavailable: %s", text.splitlines()[0] if text else type(exc).__name__)
        return JSONResponse({"detail": "the database is unavailable; nothing was written, retry shortly"},
                            status_code=503, headers={"Retry-After": "2"})
    log.error("database error", exc_info=exc)
    return JSONResponse({"detail": "internal error (logged on the server)"}, status_code=500)
