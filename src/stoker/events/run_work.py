"""A run's own Spark work, found among the collected events: in a warm session (every run of a
worker in one application) the jobs of the attempt's job group, their stages and tasks; in submit
mode the attempt's own application. What `GET /api/v1/runs/{id}/spark`, the progress and the run
page show; the same aggregate as the Spark application pages (events/analysis.py), kept per app.
"""

from __future__ import annotations

import time
from typing import Any

from stoker.core.attempts import attempt_tag
from stoker.core.routing import SPARK_SESSION, SPARK_SUBMIT
from stoker.events.progress import progress_view
from stoker.events.store import EventStore
from stoker.store.db import Database
from stoker.store.jobs import ADHOC_JOB
from stoker.store.records.runs import Attempt, Run
from stoker.store.records.spark_apps import SparkApp
from stoker.store.run_history import succeeded_durations

TOTALS = ("tasks", "done", "failed_tasks", "killed_tasks", "input_bytes", "input_records", "shuffle_read",
          "shuffle_write", "spilled", "gc_ms")


def latest_attempt(run: Run, number: int | None = None) -> Attempt | None:
    attempts = run.attempts or ()
    if number is not None:
        return next((a for a in attempts if a.number == number), None)
    return attempts[-1] if attempts else None


def attempt_app(store: EventStore, run: Run, attempt: Attempt) -> tuple[SparkApp | None, str | None]:
    """The stored app of an attempt and the job group its work has there (None: the whole app is
    the attempt's own); (None, None) when it has none (yet)."""
    executor = attempt.executor
    if executor == SPARK_SESSION or attempt.spark_job_group:
        group = attempt.spark_job_group or attempt_tag(run.id, attempt.number)
        app_id = attempt.spark_app_id
        return (store.app_named(app_id=app_id) if app_id else None), group
    if executor == SPARK_SUBMIT:
        app_id = attempt.spark_app_id
        if app_id:
            return store.app_named(app_id=app_id), None
        return store.app_named(job_name=run.job, app_name=attempt_tag(run.id, attempt.number)), None
    return None, None


def run_spark_view(store: EventStore, run: Run, number: int | None = None, *,
                   counts_only: bool = False) -> dict[str, Any]:
    """What the run's attempt (default: its latest) did in Spark: its jobs, stages with tasks done of
    total, input, shuffle, spill, failures, and its cores-busy series (not with `counts_only`)."""
    attempt = latest_attempt(run, number)
    view: dict[str, Any] = {"run_id": run.id, "attempt": attempt.number if attempt else None,
                            "executor": attempt.executor if attempt else None,
                            "spark_app": None, "job_group": None, "jobs": [], "stages": [],
                            "totals": dict.fromkeys(TOTALS, 0), "cores": None, "executors_lost": []}
    if attempt is None:
        return view
    app, group = attempt_app(store, run, attempt)
    view["job_group"] = group
    if app is None:
        return view
    analysis = store.analysis(app, group=group, counts_only=counts_only)
    view["spark_app"] = {"job_name": app.job_name, "run_id": app.run_id, "app_id": app.app_id,
                         "app_name": app.app_name, "shared": group is not None,
                         "links": {"self": f"/api/v1/spark/jobs/{app.job_name}/runs/{app.run_id}"}}
    view.update(jobs=analysis["jobs"], stages=analysis["stages"], cores=analysis["cores"],
                executors_lost=analysis["executors_lost"], totals=totals(analysis["stages"]))
    return view


def totals(stages: list[dict[str, Any]]) -> dict[str, int]:
    """The stages' counters added up; a skipped stage's tasks are none the run has to do."""
    sums = {name: sum(int(s[name] or 0) for s in stages) for name in TOTALS}
    sums["tasks"] = sum(s["tasks"] for s in stages if s["status"] != "skipped")
    return sums


def run_progress(store: EventStore, db: Database, run: Run, *, now: float | None = None,
                 spark: dict[str, Any] | None = None) -> dict[str, Any]:
    """How far the run is (events/progress.py), from its latest attempt's Spark work (`spark`, when
    the caller has it already) and the durations of the job's earlier successful runs (of the same
    steps, for ad-hoc pipelines)."""
    spark = spark if spark is not None else run_spark_view(store, run, counts_only=True)
    attempt = latest_attempt(run)
    earlier: list[float] = []
    if run.state == "RUNNING":
        earlier = succeeded_durations(db, run.job_id, before_seq=run.seq,
                                      steps=run.steps if run.job == ADHOC_JOB else None)
    return progress_view(run.id, run.state, spark, started_at=attempt.started_at if attempt else None,
                         now=time.time() if now is None else now, earlier=earlier)
