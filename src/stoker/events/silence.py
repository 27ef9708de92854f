"""One small duty: Spark apps whose driver died without an ApplicationEnd are marked ended once
their listener has been silent too long, so no app shows "running" forever."""

from __future__ import annotations

import logging

from stoker.core.periodic import Periodic
from stoker.events.store import EventStore

log = logging.getLogger(__name__)


class SilentAppReaper(Periodic):
    def __init__(self, store: EventStore, silent_seconds: float, interval_seconds: float = 5.0) -> None:
        super().__init__("silent-apps", lambda: interval_seconds, self.end_silent)
        self.store = store
        self.silent_seconds = silent_seconds

    def end_silent(self) -> int:
        ended = self.store.end_silent_apps(self.silent_seconds)
        if ended:
            log.warning("marked %d silent Spark app(s) ended (heartbeat timeout)", ended)
        return ended
