"""The Spark session a process explains pipelines on (`POST /api/v1/runs/explain`, and submits that
read a local file: catalog/submit_check.py).

With an embedded worker: its warm session, on whichever master it is (analysis runs no job, so it
barely shares, and asking for the worker's own master would stop a warm session on a cluster).
Without one (an API replica, or the worker in a child process): a `local[1]` session of this
process's own, started on the first explanation (a JVM: seconds, once) — never
before, so an API that nobody asks to explain starts no JVM.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from stoker.catalog.explain import SparkLease
from stoker.core.routing import SPARK_SESSION

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from stoker.app.background import Background


def explain_spark(background: Background | None) -> SparkLease:
    worker = background.worker if background is not None else None
    executor: Any = worker.executors.get(SPARK_SESSION) if worker is not None else None
    own: list[SparkSession] = []
    lock = threading.Lock()

    @contextmanager
    def lease() -> Iterator[SparkSession]:
        if executor is not None:
            session = executor.borrow()
            try:
                yield session
            finally:
                executor.release()
            return
        with lock:
            if not own:
                from stoker.executors.spark_session import build_spark_session

                own.append(build_spark_session("local[1]", "stoker-explain"))
        yield own[0]

    return lease
