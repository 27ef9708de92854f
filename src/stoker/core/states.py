"""Run states, attempt outcomes, and the pure rules between them (no I/O)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import NamedTuple


class RunState(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED})


class Outcome(StrEnum):
    """How one attempt ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    LOST = "lost"  # its lease expired: the worker died or stopped heartbeating
    CANCELLED = "cancelled"


class Transition(NamedTuple):
    action: str  # what the store does: claim, cancel, end (an attempt's end), retry, cluster_gone
    source: RunState
    target: RunState
    when: str


# Every way a run changes state. A run starts QUEUED (submit). The store's transactions follow
# this table (tests/integration/test_transitions.py walks it against the store) and docs/runs.md
# draws it (its table is tested against this one).
TRANSITIONS: tuple[Transition, ...] = (
    Transition("claim", RunState.QUEUED, RunState.RUNNING,
               "a worker claims an attempt under a lease (the job below max_concurrent_runs)"),
    Transition("cancel", RunState.QUEUED, RunState.CANCELLED, "cancelled before it started: at once"),
    Transition("cluster_gone", RunState.QUEUED, RunState.FAILED,
               "the cluster it waits for (options.cluster) failed or was destroyed: it can never run"),
    Transition("end", RunState.RUNNING, RunState.SUCCEEDED, "the attempt succeeded (never runs again)"),
    Transition("end", RunState.RUNNING, RunState.QUEUED,
               "the attempt failed, timed out or was lost, attempts are left and the job has "
               "auto_retry (available again after the job's backoff)"),
    Transition("end", RunState.RUNNING, RunState.FAILED,
               "the attempt failed, timed out or was lost and no attempts are left (a dead letter), "
               "or the job has auto_retry=false, or the failure is permanent (attempts kept)"),
    Transition("end", RunState.RUNNING, RunState.CANCELLED,
               "the attempt was cancelled, or ended any other way after a cancel was requested"),
    Transition("retry", RunState.FAILED, RunState.QUEUED, "POST /runs/{id}/retry with attempts left"),
    Transition("retry", RunState.CANCELLED, RunState.QUEUED, "POST /runs/{id}/retry with attempts left"),
)


def targets(action: str, source: RunState) -> frozenset[RunState]:
    """Where `action` may take a run in state `source` (empty: the store refuses it)."""
    return frozenset(t.target for t in TRANSITIONS if t.action == action and t.source is source)


def backoff_delay(policy: str, base_seconds: float, attempts_done: int) -> float:
    """Seconds to wait before attempt number `attempts_done + 1`.

    constant: always `base_seconds`; exponential: base * 2^(n-1), capped at one hour.
    """
    if base_seconds <= 0:
        return 0.0
    if policy == "constant":
        return base_seconds
    return min(base_seconds * (2.0 ** max(attempts_done - 1, 0)), 3600.0)


def next_state_after(outcome: Outcome, attempts_done: int, max_attempts: int,
                     auto_retry: bool = True, cancel_requested: bool = False) -> RunState:
    """Where a run goes when its current attempt ends with `outcome`. A run asked to stop ends
    CANCELLED whatever else ended its attempt (a timeout, a lost lease, a failure): the stop
    request must never be lost to a retry."""
    if outcome is Outcome.SUCCEEDED:
        return RunState.SUCCEEDED
    if outcome is Outcome.CANCELLED or cancel_requested:
        return RunState.CANCELLED
    if attempts_done < max_attempts and auto_retry:
        return RunState.QUEUED
    return RunState.FAILED


def attempt_id_for(run_id: str, number: int) -> str:
    """Attempt ids are derived from (run, number): an attempt can be named (a Sate execution, a URI)
    before a worker starts it, and the partial unique index still allows one active attempt."""
    return str(uuid.uuid5(_ATTEMPT_NAMESPACE, f"{run_id}/{number}"))


_ATTEMPT_NAMESPACE = uuid.UUID("6f0c1b8e-5f7e-4d53-9a57-5b1e2f3a9c11")
