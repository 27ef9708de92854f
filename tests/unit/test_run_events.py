"""Run events: one constructor (store/outbox.py run_event), and docs/events-and-sinks.md's table
says what it does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stoker.core.states import RunState
from stoker.sinks.events import EVENT_NAMES as SINK_EVENT_NAMES
from stoker.store.outbox import EVENT_NAMES, STATE_AFTER, run_event

DOC = Path(__file__).resolve().parents[2] / "docs" / "events-and-sinks.md"


def documented_table() -> dict[str, set[str]]:
    """event -> the states after it, from the docs' events table."""
    rows = re.findall(r"^\| `(\w+)` \| ([A-Z ,or]+?) \|", DOC.read_text(), re.MULTILINE)
    return {event: set(re.findall(r"[A-Z]+", states)) for event, states in rows}


def test_the_docs_table_is_the_constructors_table():
    table = documented_table()
    assert list(table) == list(EVENT_NAMES)
    assert table == {event: {s.value for s in states} for event, states in STATE_AFTER.items()}
    assert SINK_EVENT_NAMES[:len(EVENT_NAMES)] == EVENT_NAMES  # webhooks subscribe to these (and clusters')


def test_every_event_names_run_job_state_and_its_attempt():
    event = run_event("cancel_requested", run_id="r", job_id="j1", job="etl", state=RunState.RUNNING,
                      attempt=2)
    assert event == {"run_id": "r", "job_id": "j1", "job": "etl", "event": "cancel_requested",
                     "state": "RUNNING", "attempt": 2}
    assert "attempt" not in run_event("queued", run_id="r", job_id="j1", job="etl", state=RunState.QUEUED)


def test_an_event_with_a_state_it_cannot_leave_is_refused():
    with pytest.raises(ValueError, match="'dead_letter' event leaves a run FAILED/CANCELLED, not QUEUED"):
        run_event("dead_letter", run_id="r", job_id="j", job="etl", state=RunState.QUEUED)
