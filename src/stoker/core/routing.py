"""Routing: the one rule that says which lane a run waits in and which executor runs its attempts.

Every caller asks here: submission (the run's lane), the worker (its executor), the claim (the
executor recorded when a lane fixes it). Nothing else names a lane or an executor by its steps.

    lane      what waits there                                         executor
    instant   pipelines of instant functions only (noop, fail): run    inline, in batches in the
              and finished in batches inside the claim loop            claim loop
    spark     every other pipeline, on the worker's pool of threads    inline when no step needs
                                                                       Spark; else spark_session
                                                                       or spark_submit by the job's
                                                                       mode (session | submit)
    container container jobs (image + command), their own pool         container

Where Spark runs (the worker's own master or a cluster's, `options.cluster`) is not routing: it is
the attempt's target, decided by the worker when the attempt starts; the executor is the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

# Lanes (runs.lane): each has its own claim limit in the worker.
INSTANT, SPARK, CONTAINER = "instant", "spark", "container"
LANES = (INSTANT, SPARK, CONTAINER)

# Executor names: the keys of a worker's executors, each executor's `name`, attempts.executor.
INLINE, SPARK_SESSION, SPARK_SUBMIT, CONTAINER_EXECUTOR = "inline", "spark_session", "spark_submit", "container"

# The lanes whose executor the lane alone decides, recorded on the attempt at claim time.
EXECUTOR_BY_LANE = {INSTANT: INLINE, CONTAINER: CONTAINER_EXECUTOR}


class Route(NamedTuple):
    lane: str
    executor: str


def route(steps: Any, *, kind: str = "pipeline", mode: str = "session",
          instant: Callable[[Any], bool], needs_spark: Callable[[Any], bool]) -> Route:
    """(lane, executor) of a run: a container job's kind decides alone; a pipeline by its steps
    (`instant`, `needs_spark`: the catalog's judgement of them) and its job's mode."""
    if kind == "container":
        return Route(CONTAINER, CONTAINER_EXECUTOR)
    if instant(steps):
        return Route(INSTANT, INLINE)
    if not needs_spark(steps):
        return Route(SPARK, INLINE)
    return Route(SPARK, SPARK_SUBMIT if mode == "submit" else SPARK_SESSION)
