"""The answers the client returns as types. Request bodies are the API's own models
(`stoker.api.models`, `stoker.api.schemas`), as are the Spark events answers; a run, which the
server builds as plain JSON (api/views.py `run_view`), is read into `Run` here: its fields typed,
anything newer kept as extra fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from stoker.api.schemas import Duration, JobList, RunInfo, RunList, Summary

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")

__all__ = ["TERMINAL", "Duration", "Event", "JobList", "Run", "RunInfo", "RunList", "Summary"]


class Run(BaseModel):
    """A run as GET /api/v1/runs/{id} shows it (docs/api.md)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    job: str
    state: str
    job_id: str | None = None
    batch_id: str | None = None
    steps: list[Any] | None = None
    params: dict[str, Any] = {}
    options: dict[str, Any] = {}
    idempotency_key: str | None = None
    priority: int = 0
    attempt_count: int = 0
    max_attempts: int = 0
    queued_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    cancel_requested: bool = False
    result: Any = None
    error: str | None = None
    trigger: str | None = None
    links: dict[str, str] = {}
    attempts: list[dict[str, Any]] | None = None

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    def as_dict(self) -> dict[str, Any]:
        """The JSON the server sent (extra fields included)."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class Event:
    """One server-sent event of /api/v1/events/stream: its id (resume after it) and its document
    (`event`, `run_id`, `job`, `state` …, docs/events-and-sinks.md)."""

    id: int
    data: dict[str, Any]
