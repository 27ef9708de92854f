"""The Spark session a process explains pipelines on (`POST /api/v1/runs/explain`, and submits that
read a local file: catalog/submit_check.py).

With an embedded worker: its warm session, on whichever master it is (analysis runs no job, so it
barely shares, and asking for the worker's own master would stop a warm session on a cluster).
Without one (an API replica, or the worker in a child process): a `local[1]` session of this
process's own, started by the first explanation (a JVM: seconds, once), or in the background by
the first submit that reads a local file — never before, so an API that nobody asks to explain or
to read a file starts no JVM.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from stoker.core.routing import SPARK_SESSION

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from stoker.app.background import Background


class ExplainSpark:
    """Called, lends a session to explain on (starting one if need be: `POST /api/v1/runs/explain`);
    `if_ready()` lends one only if it already runs, else None and (in a process with no worker) has
    one start in the background: a submit's check must never wait for a JVM to start (tens of
    seconds on a busy machine), so the submits before it is up go unchecked, as they did before."""

    def __init__(self, background: Background | None) -> None:
        worker = background.worker if background is not None else None
        self.executor: Any = worker.executors.get(SPARK_SESSION) if worker is not None else None
        self.own: list[SparkSession] = []
        self.lock = threading.Lock()
        self.starting = threading.Event()

    @contextmanager
    def __call__(self) -> Iterator[SparkSession]:
        with self._lent(start=True) as session:
            assert session is not None
            yield session

    @contextmanager
    def if_ready(self) -> Iterator[SparkSession | None]:
        with self._lent(start=False) as session:
            yield session

    @contextmanager
    def _lent(self, *, start: bool) -> Iterator[SparkSession | None]:
        if self.executor is not None:
            session = self.executor.borrow(start=start)
            try:
                yield session
            finally:
                if session is not None:
                    self.executor.release()
            return
        if not start and not self.own:
            self._start_in_background()  # the submits after it are checked
            yield None
            return
        with self.lock:
            if not self.own:
                from stoker.executors.spark_session import build_spark_session

                self.own.append(build_spark_session("local[1]", "stoker-explain"))
        yield self.own[0]

    def _start_in_background(self) -> None:
        if self.starting.is_set():
            return
        self.starting.set()

        def start() -> None:
            try:
                with self._lent(start=True):
                    pass
            except Exception:
                log.warning("the explain session could not start; submits stay unchecked", exc_info=True)

        threading.Thread(target=start, name="stoker-explain-spark", daemon=True).start()
