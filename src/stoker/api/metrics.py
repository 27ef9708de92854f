"""Prometheus metrics (`GET /metrics`): what the database says, read at each scrape, plus what this
process saw (HTTP requests, Spark event ingest).

Each app has its own CollectorRegistry (no import-time global registry): two apps in one process,
as tests make, never share or double-register metrics.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

from asgi_correlation_id import correlation_id
from asgi_correlation_id.middleware import is_valid_uuid4
from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stoker.api.auth import require
from stoker.store import metrics as store_metrics
from stoker.store.db import Database

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


class StoreCollector(Collector):
    """Runs, queues, attempts, dead letters and sink lag, from one database snapshot per scrape."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        snap = store_metrics.snapshot(self.db)
        now = time.time()
        runs = GaugeMetricFamily("stoker_runs", "Runs by job and state", labels=["job", "state"])
        for (job, state), n in sorted(snap.runs.items()):
            runs.add_metric([job, state], n)
        yield runs
        depth = GaugeMetricFamily("stoker_queue_depth", "QUEUED runs per lane", labels=["lane"])
        age = GaugeMetricFamily("stoker_queue_oldest_age_seconds",
                                "Age of the oldest QUEUED run per lane", labels=["lane"])
        for lane, (n, oldest) in sorted(snap.queued.items()):
            depth.add_metric([lane], n)
            age.add_metric([lane], max(0.0, now - oldest) if oldest is not None else 0.0)
        yield depth
        yield age
        if snap.queue_wait is not None:
            wait = HistogramMetricFamily("stoker_queue_wait_seconds",
                                         "From submit to the start of a run's first attempt")
            wait.add_metric([], _buckets(snap.queue_wait), sum_value=snap.queue_wait.total)
            yield wait
        durations = HistogramMetricFamily("stoker_attempt_duration_seconds",
                                          "Durations of ended attempts by executor and outcome",
                                          labels=["executor", "outcome"])
        for (executor, outcome), histogram in sorted(snap.attempts.items()):
            durations.add_metric([executor, outcome], _buckets(histogram), sum_value=histogram.total)
        yield durations
        lost = sum(h.count for (_, outcome), h in snap.attempts.items() if outcome == "lost")
        yield CounterMetricFamily("stoker_reaped_leases", "Attempts ended lost: their lease expired", value=lost)
        letters = CounterMetricFamily("stoker_dead_letters", "Dead-letter entries by kind", labels=["kind"])
        for kind, n in sorted(snap.dead_letters.items()):
            letters.add_metric([kind], n)
        yield letters
        lag = GaugeMetricFamily("stoker_sink_lag_events", "Run events not yet delivered, per sink",
                                labels=["sink"])
        failures = GaugeMetricFamily("stoker_sink_delivery_failures",
                                     "Failed deliveries in a row, per sink", labels=["sink"])
        for name, (position, failed) in sorted(snap.sinks.items()):
            lag.add_metric([name], max(0, snap.outbox_head - position))
            failures.add_metric([name], failed)
        yield lag
        yield failures
        if snap.fire_delay is not None:
            delay = HistogramMetricFamily("stoker_schedule_fire_delay_seconds",
                                          "From a scheduled tick to its run being queued")
            delay.add_metric([], _buckets(snap.fire_delay), sum_value=snap.fire_delay.total)
            yield delay
        missed = CounterMetricFamily("stoker_schedule_missed_ticks",
                                     "Ticks not fired by a job's catch-up policy (the server was down or late)",
                                     labels=["job"])
        for job, n in sorted(snap.missed_ticks.items()):
            missed.add_metric([job], n)
        yield missed


def _buckets(histogram: store_metrics.Histogram) -> list[tuple[str, float]]:
    return [(repr(bound), float(n)) for bound, n in histogram.buckets] + [("+Inf", float(histogram.count))]


class ProcessMetrics:
    """What this process observes itself: HTTP requests and Spark event ingest."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("stoker_http_requests", "HTTP requests by method, route template and status",
                                ["method", "route", "status"], registry=registry)
        self.latency = Histogram("stoker_http_request_duration_seconds", "HTTP request latency by route template",
                                 ["route"], registry=registry)
        self.ingest_bytes = Counter("stoker_event_ingest_bytes", "Bytes of Spark listener payloads stored",
                                    registry=registry)
        self.ingest_events = Counter("stoker_event_ingest_events", "Spark listener events stored",
                                     registry=registry)

    def ingested(self, body_bytes: int, events: int) -> None:
        self.ingest_bytes.inc(body_bytes)
        self.ingest_events.inc(events)


class RequestMetricsMiddleware:
    """Counts every HTTP request under its route template (`/api/v1/runs/{run_id}`), never its
    concrete path, so the label set stays bounded whatever clients send; and gives every request
    an id (`X-Request-ID`: the client's when it is a UUID, else a new one), on its response and on
    each log line written while it is served (asgi_correlation_id's context variable, which the log
    filter reads).

    One pure ASGI layer for both, with the label children of each route kept: as two middlewares
    (asgi_correlation_id's and this) each request paid two wrapped `send`s, a header object built
    twice and prometheus' label look-ups, a few per cent of a status read (bench/bench_submit.py)."""

    def __init__(self, app: ASGIApp, metrics: ProcessMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        correlation_id.set(request_id)
        id_header = (b"x-request-id", request_id.encode())
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            key = (scope["method"], route, status)
            children = self._children.get(key)
            if children is None:
                if len(self._children) > 10_000:  # bounded by the routes; a guard all the same
                    self._children.clear()
                children = self._children[key] = (self.metrics.requests.labels(scope["method"], route, str(status)),
                                                  self.metrics.latency.labels(route))
            children[0].inc()
            children[1].observe(time.perf_counter() - started)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            sent: str = value.decode("latin-1")
            if is_valid_uuid4(sent):
                return sent
            log.warning("X-Request-ID %r is no UUID: a new id is used", sent[:64])
            break
    return uuid.uuid4().hex


@router.get("/metrics", summary="Prometheus metrics: runs, queues, attempts, dead letters, sinks, "
                                "ingest, HTTP (text exposition format)",
            response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
            dependencies=[Depends(require("admin"))])
def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
