"""The worker: claims attempts, executes them through an executor, heartbeats, finishes.

Instant runs (noop/fail only) are claimed and run in batches inside the claim loop, and a finisher
thread ends each batch while the loop claims again: a run queued during a finish then waits only for
the claim, not for the finish's transaction too. At most one batch is being finished at a time (the
next waits for it), so claimed instant runs never pile up unfinished behind a slow database. Spark runs
go to a pool of `concurrency` threads and container runs to a pool of their own
(`container_concurrency`), so container work never waits behind Spark work. The loop claims only as
many of each lane as there are free threads, so a claimed attempt never waits for a thread while
holding its lease.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stoker.config import Settings
from stoker.core.attempts import Claimed
from stoker.core.errors import Fenced
from stoker.core.routing import (
    CONTAINER,
    CONTAINER_EXECUTOR,
    EXECUTOR_BY_LANE,
    INLINE,
    INSTANT,
    LANES,
    SPARK,
    SPARK_SESSION,
)
from stoker.core.secret_refs import Redactor
from stoker.core.states import Outcome
from stoker.executors.attempt_log import AttemptLog, QuietLog
from stoker.executors.base import Execution, Executor, SparkTarget
from stoker.executors.control import AttemptControl
from stoker.executors.failures import is_permanent, short_error
from stoker.services import Services
from stoker.store.notify import Wakeup
from stoker.store.queue import Ending
from stoker.worker.backends import DatabaseBackend, LeaseBackend
from stoker.worker.targets import ClusterTargets, no_clusters

log = logging.getLogger(__name__)

INSTANT_BATCH = 1000
# The lanes that run on threads of their own pool, and how many of those each worker has.
POOLED_LANES = tuple(lane for lane in LANES if lane != INSTANT)


@dataclass
class Active:
    claimed: Claimed
    control: AttemptControl
    deadline: float | None


class Worker:
    def __init__(self, backend: LeaseBackend, executors: dict[str, Executor], *, settings: Settings,
                 catalog: Any, wakeup: Wakeup, worker_id: str | None = None,
                 concurrency: int = 1, container_concurrency: int = 0,
                 targets: Callable[[Claimed], SparkTarget | None] = no_clusters) -> None:
        self.backend = backend
        self.targets = targets  # the Spark master of a run on a cluster (worker/targets.py)
        self.settings = settings
        self.catalog = catalog
        self.wakeup = wakeup  # local wake-ups: work claimed or ended here, a stop
        self.executors = executors
        self.worker_id = worker_id or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.concurrency = concurrency
        # No container executor: this worker leaves container runs to others. One without a runtime
        # of its own runs only those placed on a registered host (docs/hosts.md).
        self.slots = {SPARK: concurrency,
                      CONTAINER: container_concurrency if CONTAINER_EXECUTOR in executors else 0}
        self.own_runtime = getattr(executors.get(CONTAINER_EXECUTOR), "docker_host", None) is not None
        self.active: dict[str, Active] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stop_claiming = threading.Event()
        self._pools = {lane: ThreadPoolExecutor(max_workers=max(n, 1), thread_name_prefix=f"stoker-{lane}")
                       for lane, n in self.slots.items()}
        self._threads = [
            threading.Thread(target=self._claim_loop, name="stoker-claim", daemon=True),
            threading.Thread(target=self._heartbeat_loop, name="stoker-heartbeat", daemon=True),
        ]
        # Batches of instant endings for the finisher; None stops it once the claim loop has.
        self._finishing: queue.SimpleQueue[list[Ending] | None] = queue.SimpleQueue()
        self._finish_slot = threading.Semaphore(1)  # one batch finishing at a time
        self._finisher = threading.Thread(target=self._finish_loop, name="stoker-finish", daemon=True)

    @classmethod
    def embedded(cls, services: Services, *, worker_id: str | None = None) -> Worker:
        from stoker.services import internal_ingest_token

        settings = services.settings
        listener = listener_for(settings.api_url, internal_ingest_token(services), settings.data_dir)
        executors = build_executors(settings, services.catalog, services.roots, listener,
                                    docker_host=services.containers.docker_host)
        return cls(DatabaseBackend(services), executors, settings=settings, catalog=services.catalog,
                   wakeup=services.wakeup, worker_id=worker_id,
                   concurrency=settings.worker_concurrency,
                   container_concurrency=settings.container_concurrency, targets=ClusterTargets(services.db))

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        self._finisher.start()

    def stop(self, grace_seconds: float = 5.0, timeout: float = 10.0) -> None:
        """Stop claiming; give running attempts `grace_seconds` to finish; stop the rest and report
        them `lost`, so a deploy sends their runs back to the queue (attempts and policy
        permitting) rather than ending them CANCELLED. Heartbeats go on until they have reported."""
        self._stop_claiming.set()
        self.wakeup.notify()
        deadline = time.monotonic() + grace_seconds
        while self.active and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._lock:
            for active in self.active.values():
                active.control.cancel(Outcome.LOST, "the worker shut down before the attempt finished")
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        self._stop.set()
        self.wakeup.notify()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=timeout)
        # The claim loop has stopped: the finisher ends the batch it was handed, then stops.
        self._finishing.put(None)
        if self._finisher.is_alive():
            self._finisher.join(timeout=timeout)
        session = self.executors.get(SPARK_SESSION)
        if session is not None and hasattr(session, "stop"):
            session.stop()
        container = self.executors.get(CONTAINER_EXECUTOR)
        if container is not None and hasattr(container, "close"):
            container.close()
        self.backend.close()

    # -- claiming -------------------------------------------------------------------------
    def _claim_loop(self) -> None:
        wakeup = self.wakeup
        while not self._stop_claiming.is_set():
            seen = wakeup.generation
            try:
                if self._claim_once():
                    continue
                wakeup.wait(seen, self.backend.idle_seconds())
            except Exception:
                log.exception("claim loop error; retrying")
                self._stop_claiming.wait(1.0)

    def _claim_once(self) -> bool:
        """One claim transaction for both lanes: a batch of instant runs (run and finished right
        here, in one more transaction) and as many other runs as there are free threads."""
        with self._lock:
            busy = Counter(a.claimed.lane for a in self.active.values())
        limits = {INSTANT: INSTANT_BATCH, **{lane: self.slots[lane] - busy[lane] for lane in POOLED_LANES}}
        claimed = self.backend.claim(self.worker_id, lane_limits=limits,
                                     lease_seconds=self.settings.lease_seconds,
                                     executor_by_lane=EXECUTOR_BY_LANE, own_runtime=self.own_runtime)
        instant = [c for c in claimed if c.lane == INSTANT]
        for c in claimed:
            if c.lane != INSTANT:
                self._start(c)
        if instant:
            endings = [self._run(c, self.executors[INLINE], AttemptControl(), quiet=True) for c in instant]
            self._finish_slot.acquire()  # the previous batch has been finished
            self._finishing.put(endings)
        return bool(claimed)

    def _finish_loop(self) -> None:
        while (endings := self._finishing.get()) is not None:
            try:
                self.backend.finish_many(endings)
            except Exception:
                log.exception("finishing %d instant attempts failed; their leases will expire", len(endings))
            finally:
                self._finish_slot.release()
            self.wakeup.notify()  # long-polling readers of these runs; the claim loop (slots freed)

    # -- executing ------------------------------------------------------------------------
    def _start(self, claimed: Claimed) -> None:
        control = AttemptControl()
        deadline = time.time() + claimed.timeout_seconds if claimed.timeout_seconds else None
        with self._lock:
            self.active[claimed.attempt_id] = Active(claimed, control, deadline)
        self._pools[claimed.lane if claimed.lane in self._pools else SPARK].submit(
            self._execute_and_finish, claimed, control)
        self.wakeup.notify()  # local event streams see RUNNING at once

    def executor_for(self, claimed: Claimed) -> Executor:
        """The catalog's routing decides (core/routing.py); a lane that fixes it, alone."""
        fixed = EXECUTOR_BY_LANE.get(claimed.lane)
        return self.executors[fixed or self.catalog.route(claimed.steps, mode=claimed.mode).executor]

    def _execute_and_finish(self, claimed: Claimed, control: AttemptControl) -> None:
        try:
            executor = self.executor_for(claimed)
            self.backend.annotate(claimed.attempt_id, executor=executor.name)
            ending = self._run(claimed, executor, control)
            try:
                self.backend.finish(ending)
            except Fenced as exc:
                log.warning("outcome of attempt %s discarded: %s", claimed.attempt_id, exc.message)
        except Exception:
            log.exception("finishing attempt %s failed; its lease will expire", claimed.attempt_id)
        finally:
            with self._lock:
                self.active.pop(claimed.attempt_id, None)
            self.wakeup.notify()

    def _run(self, claimed: Claimed, executor: Executor, control: AttemptControl, *,
             quiet: bool = False) -> Ending:
        attempt_log = QuietLog() if quiet else AttemptLog(claimed.attempt_id)
        logger = attempt_log.logger
        logger.info("attempt %d of run %s (job %s) on worker %s, executor %s",
                    claimed.number, claimed.run_id, claimed.job_name, self.worker_id, executor.name)
        started = time.perf_counter()
        try:
            # Secrets are resolved now, as the attempt starts: a secret changed since the submit
            # applies, one deleted since fails the attempt (permanently) with a clear message.
            resolved = self.backend.secrets_of(claimed)
            redactor = resolved.redactor()
        except Exception as exc:
            logger.error("%s", exc)
            return Ending(claimed.attempt_id, Outcome.FAILED, error=short_error(exc),
                          log=attempt_log.close(), permanent=is_permanent(exc))
        if resolved.steps is not claimed.steps:
            claimed = replace(claimed, steps=resolved.steps)
        execution = Execution(claimed, resolved.sections, control, attempt_log,
                              annotate=lambda **f: self.backend.annotate(claimed.attempt_id, **f))
        return redact_ending(self._execute(claimed, executor, control, execution, started), redactor)

    def _execute(self, claimed: Claimed, executor: Executor, control: AttemptControl, execution: Execution,
                 started: float) -> Ending:
        attempt_log, logger = execution.attempt_log, execution.attempt_log.logger
        try:
            if executor.name != INLINE:  # no Spark, so no master to find
                execution.target = self.targets(claimed)
                if execution.target is not None:
                    logger.info("on cluster %s at %s", execution.target.cluster_id, execution.target.master)
            result: Any = executor.execute(execution)
        except BaseException as exc:  # any failure of the job is the attempt's outcome, not ours
            # An executor may hand back what it learnt on the way (a container's exit code and
            # output).
            result = getattr(exc, "result", None)
            if control.reason is not None:
                logger.info("stopped: %s", control.message)
                return Ending(claimed.attempt_id, control.reason, error=control.message,
                              log=attempt_log.close(), result=result)
            logger.exception("failed after %.3f s", time.perf_counter() - started)
            # A quiet (instant) run keeps no log lines, but its failure still gets its traceback.
            log_text = attempt_log.close() or traceback.format_exc()
            return Ending(claimed.attempt_id, Outcome.FAILED, error=short_error(exc), log=log_text,
                          permanent=is_permanent(exc), result=result)
        logger.info("succeeded in %.3f s", time.perf_counter() - started)
        return Ending(claimed.attempt_id, Outcome.SUCCEEDED, result=result, log=attempt_log.close())

    # -- heartbeats, cancellation, timeouts -----------------------------------------------
    def _heartbeat_loop(self) -> None:
        settings = self.settings
        last_beat = 0.0
        while not self._stop.is_set():
            seen = self.wakeup.generation
            try:
                with self._lock:
                    active = dict(self.active)
                if active:
                    self._check_cancel_and_timeouts(active)
                    if time.monotonic() - last_beat >= settings.heartbeat_seconds:
                        self._beat(active)
                        last_beat = time.monotonic()
            except Exception:
                log.exception("heartbeat error")
            # Woken by any local state change (a cancel request, a finish) or every half second.
            self.wakeup.wait(seen, 0.5)

    def _check_cancel_and_timeouts(self, active: dict[str, Active]) -> None:
        now = time.time()
        for entry in active.values():
            if entry.deadline is not None and now > entry.deadline:
                entry.control.cancel(Outcome.TIMED_OUT,
                                     f"timed out after {entry.claimed.timeout_seconds:g} s")
        requested = self.backend.cancel_requested([a.claimed.run_id for a in active.values()])
        for entry in active.values():
            if entry.claimed.run_id in requested:
                entry.control.cancel(Outcome.CANCELLED, "cancelled by request")

    def _beat(self, active: dict[str, Active]) -> None:
        leases = self.backend.heartbeat(list(active), lease_seconds=self.settings.lease_seconds)
        for attempt_id, entry in active.items():
            if attempt_id not in leases:
                entry.control.cancel(Outcome.LOST, "this worker lost the attempt's lease")


def redact_ending(ending: Ending, redactor: Redactor) -> Ending:
    """An attempt's log, error and result with the values of its secrets shown as [REDACTED]: the
    driver's or container's output, a message that quotes a value, a result that holds one."""
    if not redactor:
        return ending
    return replace(ending, error=redactor.text(ending.error) if ending.error else ending.error,
                   log=redactor.text(ending.log) if ending.log else ending.log,
                   result=redactor.any(ending.result))


def build_executors(settings: Settings, catalog: Any, roots: Any,
                    listener: Callable[[str], dict[str, str]], *,
                    docker_host: str | None = None) -> dict[str, Executor]:
    """The executors every worker has, by name (core/routing.py names them): inline (no Spark),
    spark_session, spark_submit; and container, on the runtime at `docker_host` if any, and on the
    hosts container runs are placed on (docs/hosts.md)."""
    from stoker.executors.inline import InlineExecutor
    from stoker.executors.session_mode import SESSION_EVENTS_JOB, SparkSessionExecutor
    from stoker.executors.submit_mode import SparkSubmitExecutor

    executors: list[Executor] = [
        InlineExecutor(catalog, roots),
        SparkSessionExecutor(settings, catalog, roots, listener(SESSION_EVENTS_JOB)),
        SparkSubmitExecutor(settings, roots, listener, catalog),
    ]
    from stoker.executors.container import ContainerExecutor

    executors.append(ContainerExecutor(docker_host))
    return {executor.name: executor for executor in executors}


LISTENER_TOKEN_FILE = "spark-listener.token"


def listener_for(api_url: str, token: str, data_dir: Path) -> Callable[[str], dict[str, str]]:
    """Spark confs attaching Stoker's listener to an app whose events go under a job name, posting
    to `api_url` with `token` (ingest scope); nothing when the listener jar has not been built (the
    runs still work, unobserved). The token goes to Spark in a file of the data dir that only its
    owner reads: Spark puts confs on the driver's command line, where `ps` shows them."""
    from stoker.core.secrets import write_private
    from stoker.events.listener_conf import listener_conf, listener_jar_path

    if not listener_jar_path().exists():
        log.warning("Spark listener jar missing (%s): Spark runs will not stream their events; "
                    "run `make setup`", listener_jar_path())
        return lambda _job_name: {}
    token_file = data_dir.resolve() / LISTENER_TOKEN_FILE
    write_private(token_file, token.encode())
    return lambda job_name: listener_conf(api_url, token, job_name, token_file=token_file)
