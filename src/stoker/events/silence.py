"""One small duty: Spark apps whose driver died without an ApplicationEnd are marked ended once
their listener has been silent too long, so no app shows "running" forever."""

from __future__ import annotations

import logging
import threading

from stoker.events.store import EventStore

log = logging.getLogger(__name__)


class SilentAppReaper:
    def __init__(self, store: EventStore, silent_seconds: float, interval_seconds: float = 5.0) -> None:
        self.store = store
        self.silent_seconds = silent_seconds
        self.interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stoker-silent-apps", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                ended = self.store.end_silent_apps(self.silent_seconds)
                if ended:
                    log.warning("marked %d silent Spark app(s) ended (heartbeat timeout)", ended)
            except Exception:  # the database may be briefly away; try again next round
                log.exception("ending silent Spark apps failed")
