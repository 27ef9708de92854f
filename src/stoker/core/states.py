"""Run states, attempt outcomes, and the pure rules between them (no I/O)."""

from __future__ import annotations

import uuid
from enum import StrEnum


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


# An attempt that ended in one of these may be followed by another one, attempts permitting.
RETRYABLE_OUTCOMES = frozenset({Outcome.FAILED, Outcome.TIMED_OUT, Outcome.LOST})


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


def exhausted(attempts_done: int, max_attempts: int) -> bool:
    return attempts_done >= max_attempts


def attempt_id_for(run_id: str, number: int) -> str:
    """Attempt ids are derived from (run, number): an attempt can be named (a Sate execution, a URI)
    before a worker starts it, and the partial unique index still allows one active attempt."""
    return str(uuid.uuid5(_ATTEMPT_NAMESPACE, f"{run_id}/{number}"))


_ATTEMPT_NAMESPACE = uuid.UUID("6f0c1b8e-5f7e-4d53-9a57-5b1e2f3a9c11")
