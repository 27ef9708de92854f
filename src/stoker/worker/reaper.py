"""The reaper: one small duty — turn expired leases into `lost` attempts, so nothing stays RUNNING."""

from __future__ import annotations

import logging

from stoker.core.periodic import Periodic
from stoker.services import Services

log = logging.getLogger(__name__)


class Reaper(Periodic):
    def __init__(self, services: Services) -> None:
        super().__init__("reaper", lambda: services.settings.reap_interval_seconds, self.reap_once)
        self.services = services

    def reap_once(self) -> int:
        reaped = self.services.queue.reap()
        if reaped:
            log.warning("reaped %d attempt(s) whose lease expired", reaped)
            self.services.wakeup.notify()
        return reaped
