"""A duty run every few seconds on a thread of its own, until stopped: the shape of the reaper and
the silent-Spark-app duty, each of which only says what one round does."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, interval_seconds: Callable[[], float], round_: Callable[[], object]) -> None:
        self.name = name
        self.interval_seconds = interval_seconds  # read each round, so a setting may change it
        self.round = round_
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stoker-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_seconds()):
            try:
                self.round()
            except Exception:  # the database may be briefly away; try again next round
                log.exception("%s failed; trying again next round", self.name)
