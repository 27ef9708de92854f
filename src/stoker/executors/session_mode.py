"""Session mode: a warm SparkSession per worker; each attempt in its own job group and its own
isolated SQL session (newSession), so it can be cancelled, attributed, and given per-run settings."""

from __future__ import annotations

import logging
import threading
from typing import Any

from stoker.config import Settings
from stoker.executors.base import Execution, s3a_conf
from stoker.executors.spark_session import build_spark_session

log = logging.getLogger(__name__)

# The listener events of a worker's warm session (one Spark app, many runs, each in its own job
# group) are kept under this Spark job name; the app id is the Spark run id.
SESSION_EVENTS_JOB = "stoker-session"


class SparkSessionExecutor:
    name = "spark_session"

    def __init__(self, settings: Settings, catalog: Any, roots: Any,
                 extra_conf: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.catalog = catalog
        self.roots = roots
        self.extra_conf = extra_conf or {}
        self._lock = threading.Lock()
        self._session: Any = None
        self._owned = False

    def session(self) -> Any:
        with self._lock:
            if self._session is None:
                from pyspark import SparkContext

                # Stop at shutdown only a session we started (not one the host process already had).
                self._owned = SparkContext._active_spark_context is None
                log.info("starting SparkSession (master %s)", self.settings.spark_master)
                self._session = build_spark_session(
                    self.settings.spark_master, "stoker-worker",
                    {**self.settings.spark_conf, **self.extra_conf})
            return self._session

    def warm(self) -> None:
        """Start Spark in the background so the first run does not pay for the JVM start."""
        threading.Thread(target=self._warm, name="stoker-spark-warm", daemon=True).start()

    def _warm(self) -> None:
        try:
            self.session().range(1).count()
        except Exception:
            log.exception("warming the SparkSession failed; the first Spark run will try again")

    def execute(self, execution: Execution) -> Any:
        from stoker.catalog import RunContext

        base = self.session()
        sc = base.sparkContext
        group = execution.job_group
        conf = s3a_conf(execution.secrets.get("s3"))

        def attempt_session() -> Any:
            session = base.newSession()
            for key, value in conf.items():
                session.conf.set(key, value)
            return session

        execution.log.info("session mode: Spark app %s, job group %s", sc.applicationId, group)
        execution.annotate(spark_app_id=sc.applicationId, spark_job_group=group)
        sc.setJobGroup(group, f"stoker run {execution.claimed.run_id} attempt {execution.claimed.number}",
                       interruptOnCancel=True)
        execution.control.on_cancel(lambda: sc.cancelJobGroup(group))
        ctx = RunContext(spark=attempt_session, roots=self.roots,
                         max_rows=self.settings.result_max_rows, max_bytes=self.settings.result_max_bytes,
                         log=execution.log, cancelled=execution.control.cancelled)
        return self.catalog.execute(execution.claimed.steps or [], ctx)

    def stop(self) -> None:
        with self._lock:
            if self._session is not None and self._owned:
                self._session.stop()
            self._session = None
