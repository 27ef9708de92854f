"""Records of runs, their attempts and the dead-letter list (store/runs.py reads them)."""

from __future__ import annotations

from typing import Any

import msgspec


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    """One execution of a run, as a run's read shows it (times: epoch seconds)."""

    id: str
    number: int
    worker_id: str
    executor: str | None
    outcome: str | None  # None while it holds its lease
    started_at: float
    heartbeat_at: float
    lease_expires_at: float
    finished_at: float | None
    error: str | None
    spark_app_id: str | None
    spark_job_group: str | None
    host_name: str | None = None  # the host its container runs on (docs/hosts.md)


class AttemptDetail(Attempt, frozen=True, kw_only=True):
    """One attempt read on its own: with its run and its result."""

    run_id: str
    result: Any


class PendingAttempt(msgspec.Struct, frozen=True, kw_only=True):
    """The next attempt of a QUEUED run, which has not started: only what is known of it."""

    id: str
    run_id: str
    number: int
    outcome: None = None
    pending: bool = True


class Run(msgspec.Struct, frozen=True, kw_only=True):
    """A run as stored, with its job's name. `options` never hold secrets (`has_secrets` says whether
    it has sealed ones); `attempts` is None when the read did not ask for them."""

    id: str
    seq: int | None  # the queue's order; None for a run answered from what was just inserted
    job: str
    job_id: str
    batch_id: str | None
    state: str
    lane: str
    steps: list[Any] | None
    params: dict[str, Any]
    options: dict[str, Any]
    has_secrets: bool
    idempotency_key: str | None
    priority: int
    attempt_count: int
    max_attempts: int
    queued_at: float
    available_at: float
    started_at: float | None
    finished_at: float | None
    cancel_requested: bool
    result: Any
    error: str | None
    trigger: str
    scheduled_for: float | None
    interval_start: float | None
    interval_end: float | None
    conf: dict[str, dict[str, str]]  # its own layers as fixed at submit: {"job": {...}, "run": {...}}
    effective_conf: dict[str, dict[str, str]] | None  # what its latest attempt ran with (None: not yet)
    attempts: tuple[Attempt, ...] | None = None
    team_id: str = "default"  # its job's team (docs/teams.md)
    waiting: str | None = None  # why a QUEUED container run waits: no host has room (docs/hosts.md)


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """An entry of the dead-letter list: a run that used up its attempts, or a refused retry."""

    id: int
    run_id: str
    job: str
    kind: str  # exhausted | retry_refused
    reason: str
    request_id: str | None
    seed_message: Any
    created_at: float
