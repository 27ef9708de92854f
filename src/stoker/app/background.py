"""The duties of a serve (or worker) process besides HTTP, started and stopped in order."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from stoker.core.routing import SPARK_SESSION
from stoker.schedules.duty import schedule_duty
from stoker.schedules.service import ScheduleService
from stoker.services import Services

if TYPE_CHECKING:
    from stoker.worker.child import WorkerChild


class Background:
    """The duties of a serve (or worker) process besides HTTP: the embedded worker, the reaper, the
    run-event publisher (webhooks, NATS) and, on PostgreSQL, the LISTEN thread that wakes them."""

    def __init__(self, services: Services, *, embedded_worker: bool = True, warm_spark: bool = False,
                 worker_id: str | None = None, worker_child: WorkerChild | None = None,
                 cluster_duties: bool = True, schedules: bool = True) -> None:
        from stoker.clusters.duties import ClusterDuties
        from stoker.sinks.publisher import Publisher
        from stoker.store.audit import audit_pruner
        from stoker.store.ui_sessions import ui_session_pruner
        from stoker.worker.loop import Worker
        from stoker.worker.reaper import Reaper

        self.services = services
        self.worker = Worker.embedded(services, worker_id=worker_id) if embedded_worker else None
        self.worker_child = worker_child  # or the worker runs in a child process
        self.warm_spark = warm_spark
        self.reaper = Reaper(services)
        from stoker.events.silence import SilentAppReaper
        from stoker.events.store import EventStore

        settings = services.settings
        self.silent_apps = SilentAppReaper(EventStore(services.db), settings.spark_app_silence_seconds,
                                           interval_seconds=min(5.0, settings.spark_app_silence_seconds / 4))
        self.publisher = Publisher(services)  # run events to webhooks and NATS (stoker.sinks)
        self.session_pruner = ui_session_pruner(services.db)
        self.audit_pruner = audit_pruner(services.db, settings.audit_retention_days * 86400)
        # Launch, schedule and reconcile clusters: in the one process that owns the nodes (serve).
        self.clusters = ClusterDuties(services.clusters) if cluster_duties else None
        # Fire jobs' schedules: in every API process (any may fire; the store decides which does).
        self.scheduler = schedule_duty(ScheduleService.of(services), time.time) if schedules else None
        self.listener = None
        self._drain_lock = threading.Lock()
        self._drained = False
        if not services.db.is_sqlite:
            from stoker.store.notify import PostgresListener

            self.listener = PostgresListener(services.db.url, services.wakeup)

    def start(self) -> None:
        if self.listener is not None:
            self.listener.start()
        self.reaper.start()
        self.silent_apps.start()
        self.session_pruner.start()
        self.audit_pruner.start()
        self.publisher.start()
        if self.clusters is not None:
            self.clusters.start()
        if self.scheduler is not None:
            self.scheduler.start()
        if self.worker_child is not None:
            self.worker_child.start()
        if self.worker is not None:
            self.worker.start()
            session = self.worker.executors.get(SPARK_SESSION)
            if self.warm_spark and session is not None and hasattr(session, "warm"):
                session.warm()

    def drain(self) -> None:
        """The first half of a shutdown, run while the API still answers: stop claiming, let
        running attempts finish within the grace period (or hand them back), and stop the Spark
        sessions, whose listeners then deliver their last events (the ApplicationEnd among them)
        to this very API. Safe to call twice; `stop` calls it too."""
        with self._drain_lock:
            if self._drained:
                return
            if self.worker_child is not None:
                self.worker_child.stop()
            if self.worker is not None:
                self.worker.stop()
            self._drained = True

    def stop(self) -> None:
        self.drain()
        self.reaper.stop()
        self.silent_apps.stop()
        self.session_pruner.stop()
        self.audit_pruner.stop()
        self.publisher.stop()
        if self.clusters is not None:
            self.clusters.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.listener is not None:
            self.listener.stop()
