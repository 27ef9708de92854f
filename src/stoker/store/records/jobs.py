"""The record of a job: its definition and run policy (store/jobs.py reads it)."""

from __future__ import annotations

from typing import Any

import msgspec


class Job(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    kind: str  # pipeline | container
    spec: dict[str, Any]  # {"steps": [...]} or a container's {"image": ..., "command": [...], ...}
    description: str
    mode: str  # session | submit
    max_concurrent_runs: int
    max_attempts: int
    backoff: str  # constant | exponential
    backoff_seconds: float
    timeout_seconds: float | None
    auto_retry: bool
    running_count: int
    cluster: str | None
    options: dict[str, Any]  # what every run starts from ({} when none)
    notifications: dict[str, Any] | None
    conf: dict[str, str]  # its Spark settings ({} when none)
    created_at: float
    updated_at: float
    team_id: str = "default"  # the team it belongs to (docs/teams.md)
