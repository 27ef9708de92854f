"""Records of container jobs (Stevedore's tasks), their images and their runs read as batches
(Stevedore's results and details); store/containers.py reads them."""

from __future__ import annotations

from typing import Any

import msgspec


class ContainerJob(msgspec.Struct, frozen=True, kw_only=True):
    """A job of kind `container` with its image's import state (a task's status)."""

    id: str
    name: str
    spec: dict[str, Any]  # {"image": ..., "command": [...], "env": ..., limits}
    description: str
    max_concurrent_runs: int
    max_attempts: int
    status: str  # SUBMITTED | IMPORTING | READY | ERROR
    error: str | None  # why the import failed
    image_digest: str | None
    repository: str | None  # set for tasks registered through Stevedore
    created_at: float
    updated_at: float
    team_id: str = "default"  # the team it belongs to (docs/teams.md)


class ContainerImage(msgspec.Struct, frozen=True, kw_only=True):
    """The image row of a container job: where its import (pull) stands."""

    job_id: str
    image: str
    repository: str | None
    status: str
    error: str | None
    image_digest: str | None
    created_at: float
    updated_at: float


class Batch(msgspec.Struct, frozen=True, kw_only=True):
    """A batch of container runs (a result): its job, its times, and how many runs are in each
    (state, last attempt's outcome)."""

    batch_id: str
    job_id: str
    counts: list[tuple[str, str | None, int]]
    submitted_at: float
    start: float | None
    end: float | None


class BatchRun(msgspec.Struct, frozen=True, kw_only=True):
    """One run of a batch (a detail), with its latest attempt's outcome and result (a container's
    exit code and output)."""

    id: str
    batch_id: str
    job_id: str
    state: str
    queued_at: float
    started_at: float | None
    finished_at: float | None
    error: str | None
    attempt_count: int
    options: dict[str, Any]
    outcome: str | None
    attempt_result: Any
