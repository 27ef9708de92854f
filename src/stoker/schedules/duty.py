"""The scheduler's one loop: no timer per schedule. Each round fires what is due, then sleeps until
the next tick of any schedule (at most a second, so a schedule set on another replica is seen
soon). Every API replica runs it; the store's compare-and-set decides which replica fires a tick."""

from __future__ import annotations

import logging
from collections.abc import Callable

from stoker.core.periodic import Periodic
from stoker.schedules.service import ScheduleService

log = logging.getLogger(__name__)

MAX_SLEEP = 1.0
MIN_SLEEP = 0.005


def schedule_duty(service: ScheduleService, clock: Callable[[], float]) -> Periodic:
    def sleep_for() -> float:
        try:
            earliest = service.store.earliest()
        except Exception:  # the database may be briefly away: look again in a second
            return MAX_SLEEP
        if earliest is None:
            return MAX_SLEEP
        return min(MAX_SLEEP, max(MIN_SLEEP, earliest - clock()))

    return Periodic("scheduler", sleep_for, service.fire_due)
