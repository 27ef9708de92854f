"""Run events, written in the same transaction as the state change they describe."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stoker.core.states import RunState
from stoker.store.notify import CHANNEL
from stoker.store.tables import outbox

RunEventName = Literal["queued", "running", "retrying", "succeeded", "failed", "dead_letter",
                       "cancel_requested", "cancelled"]
EVENT_NAMES: tuple[RunEventName, ...] = get_args(RunEventName)

# The state a run is in after each event (docs/events-and-sinks.md's table is tested against it).
# A dead letter leaves the run as it was: FAILED, or CANCELLED for a refused retry of a run that was
# cancelled during its last allowed attempt.
STATE_AFTER: dict[RunEventName, tuple[RunState, ...]] = {
    "queued": (RunState.QUEUED,),
    "running": (RunState.RUNNING,),
    "retrying": (RunState.QUEUED,),
    "succeeded": (RunState.SUCCEEDED,),
    "failed": (RunState.FAILED,),
    "dead_letter": (RunState.FAILED, RunState.CANCELLED),
    "cancel_requested": (RunState.RUNNING,),
    "cancelled": (RunState.CANCELLED,),
}


def run_event(event: RunEventName, *, run_id: str, job_id: str, job: str, state: RunState,
              attempt: int | None = None, **fields: Any) -> dict[str, Any]:
    """The one way to make a run event: every event names its run (`run_id`), its job (`job_id`
    and the name `job`), the run's state after it, and the attempt it concerns where there is one
    (the one claimed, ended, asked to stop, or — for a retry's `queued` — the one that will run).
    `fields` add what the event tells besides (outcome, error, reason, available_at …)."""
    if state not in STATE_AFTER[event]:
        raise ValueError(f"a {event!r} event leaves a run {'/'.join(s.value for s in STATE_AFTER[event])}, "
                         f"not {state.value}")
    payload: dict[str, Any] = {"run_id": run_id, "job_id": job_id, "job": job, "event": event,
                               "state": state.value}
    if attempt is not None:
        payload["attempt"] = attempt
    payload.update(fields)
    return payload


def record_events(conn: Connection, now: float, events: Iterable[Mapping[str, Any]]) -> None:
    """Append events (made by `run_event`) to the outbox."""
    rows = [
        {"run_id": e["run_id"], "job_id": e["job_id"], "event": e["event"], "payload": dict(e),
         "created_at": now}
        for e in events
    ]
    if rows:
        conn.execute(outbox.insert(), rows)


def notify_work_arrived(conn: Connection) -> None:
    """On PostgreSQL, wake claimers in other processes when this transaction commits: called where
    work arrives (submit, re-queue, retry, cancel request, and an attempt's end, which frees a job
    slot). Claims do not notify, so a worker is not woken by its own claims. Publishers and
    long-pollers in other processes wake on the same notifications (the finish of a run they wait
    for among them) and poll briefly otherwise. (NOTIFYs of one transaction on one channel arrive
    once.)"""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
