"""An attempt as a worker holds it: what the queue hands out and an executor runs. A plain value,
so executors depend on it without depending on the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Claimed:
    """An attempt a worker now holds, with everything needed to execute it."""

    attempt_id: str
    run_id: str
    number: int
    job_id: str
    job_name: str
    mode: str
    lane: str
    steps: list[Any] | None
    params: dict[str, Any]
    options: dict[str, Any]
    secrets: str | None
    timeout_seconds: float | None
    lease_expires_at: float
    # The run's own Spark settings by layer ({"job": {...}, "run": {...}}; docs/spark-conf.md).
    conf: dict[str, dict[str, str]] = field(default_factory=dict)
    # The run's team: whose file roots its steps see (docs/teams.md).
    team: str = "default"
    # A container run's host (docs/hosts.md) and its container API; None: the worker's own runtime.
    host: str | None = None
    host_endpoint: str | None = None
    # A retried container run's earlier attempt ran on this host's API: a container it left there
    # (its worker died) is removed before this one starts, so a run never has two at once.
    earlier_host_endpoint: str | None = None


def attempt_tag(run_id: str, number: int) -> str:
    """An attempt's name in Spark: its job group in a warm session, its application's name in
    submit mode; how a run's own Spark work is found among the collected events."""
    return f"stoker-{run_id}-{number}"
