"""Session mode: a warm SparkSession per worker; each attempt in its own job group and its own
isolated SQL session (newSession), so it can be cancelled, attributed, and given per-run settings.

PySpark allows one SparkContext per process, so the warm session is on one master at a time: the
worker's own (`STOKER_SPARK_MASTER`), or a cluster's when runs target one. An attempt for another
master waits until the attempts on the current session have finished, then the session is rebuilt
on that master and stays warm for the runs that follow."""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

from stoker.config import Settings
from stoker.core.routing import SPARK_SESSION
from stoker.core.s3_ways import DIRECT, EXECUTORS, choose_way
from stoker.core.spark_conf import effective
from stoker.executors import conf as attempt_conf
from stoker.executors.base import Execution, SparkTarget, s3a_conf, s3a_on_classpath
from stoker.executors.s3_executors import run_through_executors
from stoker.executors.spark_session import FAST_DEFAULTS, build_spark_session
from stoker.executors.staging import run_staged

if TYPE_CHECKING:
    from stoker.catalog.context import RemoteFiles

log = logging.getLogger(__name__)

# The listener events of a worker's warm session (one Spark app, many runs, each in its own job
# group) are kept under this Spark job name; the app id is the Spark run id.
SESSION_EVENTS_JOB = "stoker-session"


class SparkSessionExecutor:
    name = SPARK_SESSION

    def __init__(self, settings: Settings, catalog: Any, roots: Any,
                 extra_conf: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.catalog = catalog
        self.roots = roots
        self.extra_conf = extra_conf or {}
        self._lock = threading.Condition()
        self._session: Any = None
        self._owned = False
        self._master: tuple[str, tuple[tuple[str, str], ...]] | None = None  # the session's master and conf
        self._users = 0  # attempts running on the current session
        # Is S3A on the current session's classpath? Asked once per session (direct_s3).
        self._direct: tuple[Any, bool] | None = None
        self.force_direct: bool | None = None  # set to choose the way to S3 instead of detecting it

    def session(self, target: SparkTarget | None = None) -> Any:
        """The warm session (for `target`'s master, else the worker's own); the caller releases it."""
        master = target.master if target is not None else self.settings.spark_master
        conf = {**self.settings.spark_conf, **(target.conf if target is not None else {}), **self.extra_conf}
        key = (master, tuple(sorted(conf.items())))
        with self._lock:
            while self._session is not None and self._master != key and self._users > 0:
                self._lock.wait()
            if self._session is not None and self._master != key:
                log.info("stopping the SparkSession on %s for one on %s", self._master[0] if self._master else "?",
                         master)
                self._session.stop()
                self._session = None
            if self._session is None:
                from pyspark import SparkContext

                # Stop at shutdown only a session we started (not one the host process already had).
                self._owned = SparkContext._active_spark_context is None
                log.info("starting SparkSession (master %s)", master)
                self._session = build_spark_session(master, "stoker-worker", conf)
                self._master = key
            self._users += 1
            return self._session

    def borrow(self, *, start: bool = True) -> Any:
        """The warm session on whichever master it is now (the worker's own if none, or None when
        not `start`): for work that runs no Spark job, such as analysing a plan, which must not move
        the session off a cluster's master. The caller releases a session it got."""
        with self._lock:
            if self._session is not None:
                self._users += 1
                return self._session
            if not start:
                return None
        return self.session()

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            self._lock.notify_all()

    def warm(self) -> None:
        """Start Spark in the background so the first run does not pay for the JVM start."""
        threading.Thread(target=self._warm, name="stoker-spark-warm", daemon=True).start()

    def _warm(self) -> None:
        try:
            self.session().range(1).count()
        except Exception:
            log.exception("warming the SparkSession failed; the first Spark run will try again")
        finally:
            self.release()

    def execute(self, execution: Execution) -> Any:
        base = self.session(execution.target)
        try:
            return self._execute_s3(execution, base)
        finally:
            self.release()

    def _execute_s3(self, execution: Execution, base: Any) -> Any:
        """Choose the way to S3 (docs/s3.md): direct when Spark has S3A, else staged."""
        steps = execution.claimed.steps or []
        roots = self.roots.for_team(execution.claimed.team)  # the run's team's files, no other's
        s3_paths = self.catalog.s3_paths(steps, roots)
        s3 = execution.secrets.get("s3")
        if not s3_paths:
            # A plugin may still reach S3 through Spark; only the direct way hands Spark the keys.
            conf = s3a_conf(s3) if s3 and self.direct_s3(base) else {}
            return self._execute(execution, base, steps, roots, conf)
        way = choose_way(s3a=self.direct_s3(base), master=base.sparkContext.master,
                         on_cluster=execution.target is not None, override=self.settings.s3_way)
        if way == DIRECT:
            execution.log.info("S3: direct way (Spark's s3a connector, the run's keys on its own session)")
            return self._execute(execution, base, steps, roots, s3a_conf(s3))
        if way == EXECUTORS:
            return run_through_executors(execution, self.settings, s3_paths, lambda remote: self._execute(
                execution, base, steps, roots, {}, remote=remote))
        return run_staged(execution, self.settings, s3_paths, steps, roots,
                          lambda staged: self._execute(execution, base, staged.steps, staged.roots, {},
                                                        staged.sources))

    def direct_s3(self, base: Any) -> bool:
        """Is Hadoop's S3A filesystem on this session's classpath? Asked once per session."""
        if self.force_direct is not None:
            return self.force_direct
        with self._lock:
            if self._direct is None or self._direct[0] is not base:
                found = s3a_on_classpath(base)
                self._direct = (base, found)
                log.info("S3A filesystem %s on the Spark classpath: S3 runs take the %s", "found" if found
                         else "not found", "direct way" if found else "staged or the executors' way (docs/s3.md)")
            return self._direct[1]

    def _execute(self, execution: Execution, base: Any, steps: list[Any], roots: Any,
                 conf: dict[str, str], sources: Mapping[str, Hashable] | None = None,
                 remote: RemoteFiles | None = None) -> Any:
        from stoker.catalog import RunContext

        sc = base.sparkContext
        group = execution.job_group
        own_conf = attempt_conf.runtime(execution)  # the run's settings, on its own session only

        def attempt_session() -> Any:
            session = base.newSession()
            for key, value in conf.items():
                session.conf.set(key, value)
            return session

        app_id = sc.applicationId  # a call into the JVM each time it is read
        execution.log.info("session mode: Spark app %s on %s, job group %s", app_id, sc.master, group)
        execution.annotate(spark_app_id=app_id, spark_job_group=group,
                           conf=effective(attempt_conf.layers(execution, self.settings, FAST_DEFAULTS)))
        sc.setJobGroup(group, f"stoker run {execution.claimed.run_id} attempt {execution.claimed.number}",
                       interruptOnCancel=True)
        execution.control.on_cancel(lambda: sc.cancelJobGroup(group))
        ctx = RunContext(spark=attempt_session, roots=roots,
                         max_rows=self.settings.result_max_rows, max_bytes=self.settings.result_max_bytes,
                         log=execution.log, cancelled=execution.control.cancelled, sources=sources or {},
                         conf=own_conf, remote=remote)
        return self.catalog.execute(steps, ctx)

    def stop(self) -> None:
        with self._lock:
            if self._session is not None and self._owned:
                self._session.stop()
            self._session = None
            self._master = None
