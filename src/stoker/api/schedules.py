"""A job's schedule beyond setting it (on the job itself): pause, resume, backfill, its ticks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from stoker.api.auth import Editor, Reader, Runner
from stoker.api.deps import JobStoreDep, ScheduleServiceDep
from stoker.api.models import Backfill
from stoker.api.paging import PageSize
from stoker.core.errors import InvalidInput

router = APIRouter(prefix="/api/v1/jobs", tags=["schedules"])


@router.post("/{job}/schedule/pause", summary="Pause a job's schedule: no tick fires until it is resumed")
def pause(job: str, jobs: JobStoreDep, schedules: ScheduleServiceDep, principal: Editor) -> dict[str, Any]:
    return schedules.view(schedules.pause(jobs.get(job, principal.sees), True))


@router.post("/{job}/schedule/resume", summary="Resume a job's schedule from now (the paused ticks are not owed)")
def resume(job: str, jobs: JobStoreDep, schedules: ScheduleServiceDep, principal: Editor) -> dict[str, Any]:
    return schedules.view(schedules.pause(jobs.get(job, principal.sees), False))


@router.get("/{job}/ticks", summary="A job's latest ticks, newest first: queued (with the run's state), "
            "skipped by the overlap policy, missed by the catch-up policy, refused")
def ticks(job: str, jobs: JobStoreDep, schedules: ScheduleServiceDep, principal: Reader,
          limit: PageSize = 50) -> dict[str, Any]:
    found = jobs.get(job, principal.sees)
    return {"ticks": [schedules.tick_view(t) for t in schedules.store.ticks(found.id, limit)]}


@router.post("/{job}/backfill", summary="One run per tick of the job's schedule in a time range")
def backfill(job: str, body: Backfill, jobs: JobStoreDep, schedules: ScheduleServiceDep,
             principal: Runner) -> dict[str, Any]:
    """Each run is queued under its tick's key: asking twice queues no second set, and a tick the
    schedule fired already keeps its run. The job's `max_concurrent_runs` paces them. `dry_run`
    lists the ticks."""
    found = jobs.get(job, principal.sees)
    record = schedules.require(found)
    zone = schedules.stored(record).zone
    return schedules.backfill(found, _time(body.start, "start", zone), _time(body.end, "end", zone),
                              dry_run=body.dry_run)


def _time(value: str, what: str, zone: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"backfill: `{what}` {value!r} is not an ISO 8601 time such as "
                           "\"2026-11-01T00:00:00Z\"") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(UTC)
