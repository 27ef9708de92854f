"""One run event as every sink sees it: the outbox row turned into one JSON document (the store's
`Event` record, store/outbox.py), and every event name the outbox carries."""

from __future__ import annotations

from stoker.store.outbox import EVENT_NAMES as RUN_EVENT_NAMES
from stoker.store.outbox import Event
from stoker.store.schedules import SCHEDULE_EVENTS
from stoker.store.tuning import TUNING_EVENTS

# Every event name the outbox carries: the run events (store/outbox.py run_event), the clusters', and
# the schedules' (a tick skipped, missed or refused: store/schedules.py), and the tuning loop's (a
# trial kept or rolled back: store/tuning.py).
EVENT_NAMES = (*RUN_EVENT_NAMES,
               *(f"cluster.{status}" for status in ("registered", "scheduling", "scheduled", "configuring",
                                                     "configured", "ready", "degraded", "failed", "destroyed")),
               *SCHEDULE_EVENTS, *TUNING_EVENTS)

__all__ = ["EVENT_NAMES", "Event"]
