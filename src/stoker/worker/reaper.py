"""The reaper: one small duty — turn expired leases into `lost` attempts, so nothing stays RUNNING."""

from __future__ import annotations

import logging
import threading

from stoker.services import Services

log = logging.getLogger(__name__)


class Reaper:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stoker-reaper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def reap_once(self) -> int:
        reaped = self.services.queue.reap()
        if reaped:
            log.warning("reaped %d attempt(s) whose lease expired", reaped)
            self.services.wakeup.notify()
        return reaped

    def _run(self) -> None:
        while not self._stop.wait(self.services.settings.reap_interval_seconds):
            try:
                self.reap_once()
            except Exception:  # the database may be briefly away; try again next round
                log.exception("reaping failed")
