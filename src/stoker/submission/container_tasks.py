"""Stevedore's tasks, results and details as a service over container jobs: what the Stevedore API
(compat/stevedore.py) and the web UI (ui/tasks.py) both call. A task is a container job, a result a
batch of its runs (run N times), a detail one run.

A detail's status: QUEUED, RUNNING, COMPLETE (exit 0), ERROR (another exit code, out of memory, or
a runtime failure), KILLED (past its timeout_seconds), CANCELLED. A result's status follows its
details: QUEUED until one starts; RUNNING while any runs or waits; then COMPLETE if all completed,
else KILLED if any was killed, else CANCELLED if any was cancelled, else ERROR.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stoker.core import limits
from stoker.core.container_spec import check_spec
from stoker.core.errors import Conflict, InvalidInput, NotFound
from stoker.core.teams import DEFAULT_TEAM
from stoker.services import Services
from stoker.store.records.containers import Batch, BatchRun, ContainerJob
from stoker.submission.runs import RunRequest, Submitter

MAX_TIMES = limits.MAX_TIMES
# Run N times means N at once (as far as the workers' container lanes allow), not one after another.
# An execution whose worker died, or that timed out, is tried again at once (3 attempts in all); one
# whose container exited non-zero is not (executors/container.py).
TASK_POLICY = {"max_concurrent_runs": 1000, "max_attempts": 3, "backoff": "constant", "backoff_seconds": 0.5,
               "description": "a Stevedore task (registered with POST /task/)"}
DETAIL_STATUS = {"QUEUED": "QUEUED", "RUNNING": "RUNNING", "SUCCEEDED": "COMPLETE",
                 "CANCELLED": "CANCELLED"}


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: str | list[str] | None = Field(None, description="a string (split as a shell would) or a list")
    env: dict[str, str | int | float | bool] | None = None
    timeout_seconds: float | None = Field(None, description="past it the container is killed: KILLED")
    memory_mb: int | None = None
    cpus: float | None = None
    network: str | None = Field(None, description="none (default), host or bridge")


class TaskCreate(Limits):
    repository: str = Field(..., min_length=1, max_length=500, examples=["localhost/stoker/busybox:latest"])
    name: str | None = Field(None, min_length=1, max_length=200, description="defaults to the repository")


class TaskOperation(Limits):
    operation: str = "RUN"
    times: int = 1



# Every function takes the caller's team: a task, result or detail of another team is not found
# (`team` None: every team's, an admin's); what is made is the team's.
def register(services: Services, task: TaskCreate, team: str = DEFAULT_TEAM) -> ContainerJob:
    """Register a task (the API's POST /task/ and the UI's form): a container job whose image
    import starts now; 503 without a runtime, 409 for a repository that is a task already."""
    services.images.require()
    spec = check_spec({"image": task.repository, **task.model_dump(exclude={"repository", "name"},
                                                                   exclude_none=True)})
    return services.images.register(task.name or task.repository, spec, repository=task.repository,
                                     team=team, **TASK_POLICY)


def run_times(services: Services, task_id: str, run: TaskOperation, team: str | None = None) -> str:
    """Run a READY task `times` times (one batch, the result); the result's id."""
    if run.operation.upper() != "RUN":
        raise InvalidInput(f"unknown operation {run.operation!r}: a task knows RUN")
    if not 1 <= run.times <= MAX_TIMES:
        raise InvalidInput(f"times must be between 1 and {MAX_TIMES:,}, not {run.times}")
    task = find_task(services, task_id, team)
    if task.status != "READY":
        why = f" ({task.error})" if task.error else ""
        raise Conflict(f"task {task_id} cannot run: its status is {task.status}{why}; "
                       f"it runs once READY")
    overrides = run.model_dump(exclude={"operation", "times"}, exclude_none=True)
    batch_id, _ = Submitter(services).submit_batch([RunRequest(container=overrides, team=task.team_id)],
                                                   job_name=task.id, copies=run.times)
    return batch_id


def cancel(services: Services, result_id: str, team: str | None = None) -> dict[str, Any]:
    """Cancel a result's executions that have not ended (409 when none is left); its view after."""
    find_batch(services, result_id, team)
    active = [r.id for r in services.container_jobs.batch_runs(result_id, team=team)
              if r.state in ("QUEUED", "RUNNING")]
    if not active:
        status = result_view(find_batch(services, result_id, team))["status"]
        raise Conflict(f"result {result_id} is {status}: nothing is left to cancel")
    for run_id in active:
        try:
            services.runs.cancel(run_id, team=team)
        except Conflict:
            pass  # it finished meanwhile
    return result_view(find_batch(services, result_id, team))


# -- status rules (pure) ----------------------------------------------------------------------------
def detail_status(state: str, outcome: str | None) -> str:
    """A detail's status from its run's state and its last attempt's outcome."""
    if state == "FAILED":
        return "KILLED" if outcome == "timed_out" else "ERROR"
    return DETAIL_STATUS[state]


def result_status(statuses: Iterable[str]) -> str:
    counts = Counter(statuses)
    if counts["QUEUED"] == sum(counts.values()):
        return "QUEUED"
    if counts["RUNNING"] or counts["QUEUED"]:
        return "RUNNING"
    for status in ("KILLED", "CANCELLED", "ERROR"):
        if counts[status]:
            return status
    return "COMPLETE"


# -- look-ups and views -------------------------------------------------------------------------
def find_task(services: Services, task_id: str, team: str | None = None) -> ContainerJob:
    try:
        return services.container_jobs.get(task_id, team)
    except NotFound:
        raise NotFound(f"task {task_id} does not exist") from None


def find_batch(services: Services, result_id: str, team: str | None = None) -> Batch:
    found = services.container_jobs.batches(batch_id=result_id, team=team)
    if not found:
        raise NotFound(f"result {result_id} does not exist")
    return found[0]


def find_detail(services: Services, result_id: str, detail_id: str, team: str | None = None) -> BatchRun:
    rows = services.container_jobs.batch_runs(result_id, run_id=detail_id, team=team)
    if not rows:
        find_batch(services, result_id, team)
        raise NotFound(f"result {result_id} has no detail {detail_id}")
    return rows[0]


def _epoch(ts: float | None) -> float | None:
    return round(ts, 3) if ts is not None else None


def _times(submitted_at: float | None, start: float | None, end: float | None) -> dict[str, Any]:
    return {"submitted_at": _epoch(submitted_at), "start": _epoch(start), "end": _epoch(end),
            "duration": _epoch(end - start) if start is not None and end is not None else None}


def task_view(task: ContainerJob, *, detailed: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {"Id": task.id, "Name": task.name, "task_id": task.id,
                            "name": task.name, "status": task.status}
    if detailed:
        spec = task.spec
        view.update({"repository": task.repository or spec["image"], "image": spec["image"],
                     "command": spec.get("command"), "image_digest": task.image_digest,
                     "error": task.error, "created_at": _epoch(task.created_at),
                     "links": {"job": f"/api/v1/jobs/{task.id}", "runs": f"/api/v1/jobs/{task.id}/runs"}})
    return view


def result_view(batch: Batch) -> dict[str, Any]:
    statuses = [detail_status(s, o) for s, o, n in batch.counts for _ in range(n)]
    status = result_status(statuses)
    done = status not in ("QUEUED", "RUNNING")
    return {"result_id": batch.batch_id, "task_id": batch.job_id, "status": status,
            **_times(batch.submitted_at, batch.start, batch.end if done else None),
            "times": len(statuses), "counts": dict(Counter(statuses)),
            "links": {"details": f"/result/{batch.batch_id}/detail/",
                      "batch": f"/api/v1/batches/{batch.batch_id}"}}


def detail_view(run: BatchRun) -> dict[str, Any]:
    status = detail_status(run.state, run.outcome)
    output = run.attempt_result or {}
    done = status not in ("QUEUED", "RUNNING")
    base = f"/result/{run.batch_id}/detail/{run.id}"
    return {"detail_id": run.id, "result_id": run.batch_id, "task_id": run.job_id, "status": status,
            **_times(run.queued_at, run.started_at, run.finished_at if done else None),
            "exit_code": output.get("exit_code"),
            "image_digest": output.get("image_digest"),
            "error": run.error if status not in ("COMPLETE",) else None,
            "attempts": run.attempt_count,
            "links": {"logs": f"{base}/logs", "run": f"/api/v1/runs/{run.id}"}}
