"""The cluster duties of a `stoker serve` process: reconcile once at start (Stoker may have been
killed while clusters ran), then schedule and reconcile on a timer and whenever a launch or destroy
changes something."""

from __future__ import annotations

import logging
import threading

from stoker.clusters.service import ClusterService

log = logging.getLogger(__name__)


class ClusterDuties:
    def __init__(self, service: ClusterService) -> None:
        self.service = service
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="stoker-clusters", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.service.changed.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        every = self.service.settings.reconcile_seconds
        while not self._stop.is_set():
            self.service.changed.clear()
            for duty in (self.service.reconcile, self.service.schedule, self.service.store.release_parked):
                try:
                    duty()
                except Exception:
                    log.exception("cluster duty %s failed; trying again", getattr(duty, "__name__", duty))
            self.service.changed.wait(every)
