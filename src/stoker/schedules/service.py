"""A job's schedule: set from a job's body, shown in words with its next and last ticks, paused,
resumed, backfilled, and fired when due. The cron arithmetic is core/schedules.py's; the firing's
atomicity is the store's (store/schedules.py); this module decides which ticks and builds their runs
through the submission service, so a scheduled run is checked exactly as a submitted one."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from stoker.core import schedules as cron
from stoker.core.errors import InvalidInput, StokerError
from stoker.core.times import iso
from stoker.services import Services
from stoker.store.records.jobs import Job
from stoker.store.schedules import Firing, PlannedTick, ScheduleRecord, ScheduleStore, TickRecord
from stoker.submission.runs import RunRequest, Submitter

log = logging.getLogger(__name__)

# A tick found later than this (the server was down, or the loop stalled) is late: `catchup: none`
# does not fire it. The loop looks at least once a second, so an on-time tick is never this late.
GRACE = timedelta(seconds=60)
MAX_BACKFILL = 1000  # ticks one backfill may queue
DUE_BATCH = 200  # schedules fired per transaction


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def tick_params(schedule: cron.Schedule, tick: datetime, start: datetime) -> dict[str, Any]:
    """What a tick's run knows of it, for its steps' placeholders: `{{ scheduled_for }}` and the
    data interval (from the tick before, `start`, to this one) in UTC, and the dates in the
    schedule's zone (`{{ scheduled_date }}`, `{{ interval_start_date }}`: "yesterday's partition"
    needs no code)."""
    zone = schedule.zone
    return {"scheduled_for": iso(tick.timestamp()), "interval_start": iso(start.timestamp()),
            "interval_end": iso(tick.timestamp()),
            "scheduled_date": tick.astimezone(zone).date().isoformat(),
            "interval_start_date": start.astimezone(zone).date().isoformat()}


class ScheduleService:
    def __init__(self, store: ScheduleStore, submitter: Submitter, clock: Callable[[], float]) -> None:
        self.store = store
        self.submitter = submitter
        self.clock = clock

    @classmethod
    def of(cls, services: Services) -> ScheduleService:
        """Over a process's store and submission service (cheap: it keeps no state of its own)."""
        return cls(ScheduleStore(services.db, services.runs, time.time), Submitter(services), time.time)

    def parse(self, raw: Any, job_name: str, *, stored: bool = False) -> cron.Schedule:
        """A schedule from a request (checked in full), or as stored (checked when it was set)."""
        return cron.parse(raw, seed=job_name, now=_at(self.clock()), check_fires=not stored)

    # -- set and show ---------------------------------------------------------------------------
    def set(self, job: Job, raw: Any) -> None:
        """Set the job's schedule from a request (None removes it). Checked first: a bad one is an
        InvalidInput and changes nothing."""
        if raw is None:
            self.store.delete(job.id)
            return
        schedule = self.parse(raw, job.name)
        nxt = cron.next_tick(schedule, _at(self.clock()))
        self.store.put(job.id, schedule.to_dict(), paused=schedule.paused,
                       next_at=nxt.timestamp() if nxt else None)

    def stored(self, record: ScheduleRecord) -> cron.Schedule:
        """A schedule as the store keeps it (checked in full when it was set)."""
        return self.parse({**record.spec, "paused": record.paused}, record.job, stored=True)

    def describe(self, record: ScheduleRecord) -> str:
        """The schedule in words (a list of jobs shows no more)."""
        return cron.describe(self.stored(record))

    def view(self, record: ScheduleRecord, *, ticks: int = 10) -> dict[str, Any]:
        """The schedule as a job shows it: as written, in words, its next five ticks, its last ones."""
        schedule = self.stored(record)
        upcoming = [] if record.paused else cron.next_ticks(schedule, _at(self.clock()), 5)
        last = self.store.ticks(record.job_id, ticks) if ticks else []
        return {**schedule.to_dict(), "description": cron.describe(schedule),
                "next": [iso(t.timestamp()) for t in upcoming],
                "last_ticks": [self.tick_view(t) for t in last]}

    @staticmethod
    def tick_view(tick: TickRecord) -> dict[str, Any]:
        return {"tick": iso(tick.tick_at), "trigger": tick.trigger, "outcome": tick.outcome,
                "run_id": tick.run_id, "run_state": tick.run_state, "until": iso(tick.until_at),
                "missed": tick.missed_count, "reason": tick.reason, "fired_at": iso(tick.fired_at),
                "links": {"run": f"/api/v1/runs/{tick.run_id}"} if tick.run_id else {}}

    def pause(self, job: Job, paused: bool) -> ScheduleRecord:
        record = self.require(job)
        nxt = None
        if not paused:
            tick = cron.next_tick(self.stored(record), _at(self.clock()))
            nxt = tick.timestamp() if tick else None
        self.store.set_paused(job.id, paused, nxt)
        return self.require(job)

    def require(self, job: Job) -> ScheduleRecord:
        record = self.store.get(job.id)
        if record is None:
            raise InvalidInput(f"job {job.name!r} has no schedule: set one with PATCH /api/v1/jobs/"
                               f"{job.name} {{\"schedule\": {{\"cron\": \"0 6 * * *\"}}}}")
        return record

    # -- backfill -------------------------------------------------------------------------------
    def backfill(self, job: Job, start: datetime, end: datetime, *, dry_run: bool) -> dict[str, Any]:
        """One run per tick of the job's schedule in [start, end], each under its tick's key."""
        if end < start:
            raise InvalidInput("backfill: `end` is before `start`")
        record = self.require(job)
        schedule = self.stored(record)
        ticks = cron.ticks_in(schedule, start.astimezone(UTC), end.astimezone(UTC), MAX_BACKFILL)
        if dry_run:
            return {"dry_run": True, "ticks": [{"tick": iso(t.timestamp())} for t in ticks]}
        planned = [self._plan(job, schedule, tick, "backfill") for tick in ticks]
        refused = [p for p in planned if p.run is None]
        if refused:  # a backfill is asked by a person: refuse it whole, saying why, before queuing any
            raise InvalidInput(f"backfill: the tick {iso(refused[0].tick_at)} cannot run: {refused[0].reason}")
        outcomes = self.store.backfill(job.id, planned)
        return {"dry_run": False, "ticks": [{"tick": iso(t), "outcome": o, "run_id": r,
                                             "links": {"run": f"/api/v1/runs/{r}"} if r else {}}
                                            for t, o, r in outcomes]}

    # -- firing ---------------------------------------------------------------------------------
    def fire_due(self) -> int:
        """Fire every schedule whose tick has come; the number of runs queued."""
        queued = 0
        while True:
            now = _at(self.clock())
            due = self.store.due(now.timestamp(), DUE_BATCH)
            if not due:
                return queued
            jobs = {j.id: j for j in self.submitter.services.runs.jobs.get_many([r.job_id for r in due])}
            firings = [self._firing(record, jobs.get(record.job_id), now) for record in due]
            fired = self.store.fire([f for f in firings if f is not None])
            queued += sum(1 for f in fired for _, outcome, _ in f.outcomes if outcome == "queued")
            if len(due) < DUE_BATCH:
                return queued

    def _firing(self, record: ScheduleRecord, job: Job | None, now: datetime) -> Firing | None:
        assert record.next_at is not None  # due() reads only schedules with a next tick
        if job is None:
            return None
        try:
            schedule = self.stored(record)
        except StokerError as exc:  # a schedule valid when set that no longer parses: say so, stop it
            log.error("schedule of job %s no longer parses (%s): it is stopped", record.job, exc)
            return Firing(record.job_id, record.next_at, "skip", [], None, now.timestamp())
        due = cron.due(schedule, _at(record.last_tick_at), now, grace=GRACE, first_after=_at(record.next_at))
        nxt = cron.next_tick(schedule, now)
        missed_reason = (f"missed by the catch-up policy ({schedule.catchup}): the server was down or "
                         "the ticks were late")
        return Firing(job_id=record.job_id, expected_next_at=record.next_at, overlap=schedule.overlap,
                      ticks=[self._plan(job, schedule, tick, "schedule") for tick in due.fire],
                      next_at=nxt.timestamp() if nxt else None, last_tick_at=now.timestamp(),
                      missed=(due.missed[0].timestamp(), due.missed[1].timestamp()) if due.missed else None,
                      missed_count=cron.count_between(schedule, *due.missed) if due.missed else 0,
                      missed_reason=missed_reason)

    def _plan(self, job: Job, schedule: cron.Schedule, tick: datetime, trigger: str) -> PlannedTick:
        key = cron.tick_key(tick)
        start = cron.previous_tick(schedule, tick) or tick
        params = {**schedule.params, **tick_params(schedule, tick, start)}
        try:
            # Not explained by Spark (catalog/submit_check.py): a burst of due ticks stays cheap;
            # a column typo in a job's steps fails its run, with Spark's message.
            new = self.submitter.prepare(RunRequest(params=params, idempotency_key=key, team=job.team_id), job,
                                         check_columns=False)
        except StokerError as exc:
            return PlannedTick(tick.timestamp(), key, None, reason=exc.message)
        new.trigger, new.scheduled_for = trigger, tick.timestamp()
        new.interval_start, new.interval_end = start.timestamp(), tick.timestamp()
        return PlannedTick(tick.timestamp(), key, new)
