"""Schedules through the API and the store: real time (a seconds field) on SQLite and PostgreSQL,
overlap policies with runs that outlast their interval, backfill, and catch-up and DST with a
controlled clock. The two-replica kill test is in tests/e2e/test_schedules_replicas.py."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest

from conftest import ADMIN_TOKEN, make_services, wait_for_state
from harness import wait_for
from stoker.core.errors import InvalidInput
from stoker.schedules.service import ScheduleService
from stoker.store.schedules import ScheduleStore
from stoker.submission.runs import Submitter


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sched_api(request, tmp_path):
    """An app with its worker and its scheduler running, on SQLite or a fresh PostgreSQL database."""
    from fastapi.testclient import TestClient

    from stoker.app import Background, create_app

    url = None if request.param == "sqlite" else request.getfixturevalue("fresh_postgres_url")
    services = make_services(tmp_path / "data", url, lease_seconds=5.0, heartbeat_seconds=1.0,
                             reap_interval_seconds=0.5)
    app = create_app(services, background=Background(services, embedded_worker=True))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        yield client
    services.close()


def make_job(client, name, schedule, steps=None, **policy):
    body = {"name": name, "steps": steps or [["noop"]], "schedule": schedule, **policy}
    response = client.post("/api/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def ticks(client, job):
    return client.get(f"/api/v1/jobs/{job}/ticks").json()["ticks"]


def runs_of(client, job):
    return client.get(f"/api/v1/jobs/{job}/runs?limit=200").json()["runs"]


def test_a_seconds_schedule_fires_every_tick_once(sched_api):
    # overlap "queue": a tick whose previous run is still going (a loaded machine) queues anyway, so
    # every tick is a run; the default, "skip", has a test of its own.
    job = make_job(sched_api, "every-second", {"cron": "* * * * * *", "catchup": "all", "overlap": "queue"})
    assert job["schedule"]["description"].startswith("Every second")
    wait_for(lambda: len([t for t in ticks(sched_api, "every-second") if t["outcome"] == "queued"]) >= 6,
             timeout=30, what="six ticks")
    sched_api.patch("/api/v1/jobs/every-second", json={"schedule": None})
    fired = sorted(t["tick"] for t in ticks(sched_api, "every-second") if t["outcome"] == "queued")
    seconds = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in fired]
    assert [b - a for a, b in itertools.pairwise(seconds)] == [timedelta(seconds=1)] * (len(seconds) - 1)
    runs = runs_of(sched_api, "every-second")
    assert sorted(r["scheduled_for"] for r in runs) == fired  # one run per tick, none twice
    for run in runs:
        assert run["trigger"] == "schedule"
        assert run["idempotency_key"] == "tick:" + run["scheduled_for"]
        assert wait_for_state(sched_api, run["id"])["state"] == "SUCCEEDED"
    # The tick's moment and its data interval, also as parameters of the run.
    run = runs[0]
    assert run["interval_end"] == run["scheduled_for"]
    assert run["params"]["scheduled_for"] == run["scheduled_for"]
    start = datetime.fromisoformat(run["interval_start"].replace("Z", "+00:00"))
    assert datetime.fromisoformat(run["interval_end"].replace("Z", "+00:00")) - start == timedelta(seconds=1)
    metrics = sched_api.get("/metrics").text
    count = next(line for line in metrics.splitlines() if line.startswith("stoker_schedule_fire_delay_seconds_count"))
    assert float(count.split()[-1]) >= 6
    assert sched_api.get("/api/v1/jobs/every-second").json()["schedule"] is None  # removed: no more ticks
    count = len(runs_of(sched_api, "every-second"))
    time.sleep(1.5)
    assert len(runs_of(sched_api, "every-second")) == count


@pytest.mark.parametrize(("schedule", "says"), [
    ({"cron": "0 0 30 2 *"}, "day-of-month"),
    ({"cron": "0 6 * * *", "timezone": "Europe/Atlantis"}, "not a known IANA time zone"),
    ("every morning", "fields"),
    ({"cron": "0 6 * * *", "overlap": "both"}, "overlap must be one of"),
])
def test_a_bad_schedule_is_a_422_and_makes_nothing(api, schedule, says):
    response = api.post("/api/v1/jobs", json={"name": "nightly", "steps": [["noop"]], "schedule": schedule})
    assert response.status_code == 422 and says in response.json()["detail"], response.text
    assert api.get("/api/v1/jobs/nightly").status_code == 404
    assert make_job(api, "nightly", None)["schedule"] is None
    response = api.patch("/api/v1/jobs/nightly", json={"schedule": schedule, "max_attempts": 5})
    assert response.status_code == 422 and says in response.json()["detail"]
    job = api.get("/api/v1/jobs/nightly").json()
    assert job["schedule"] is None and job["max_attempts"] == 3  # nothing changed


def test_a_job_shows_its_schedule_in_words_and_pauses(api):
    job = make_job(api, "morning-dashboard", {"cron": "0 6 * * *", "timezone": "Europe/Madrid"})
    schedule = job["schedule"]
    assert schedule["description"] == "At 06:00 every day, Europe/Madrid"
    assert len(schedule["next"]) == 5
    firsts = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in schedule["next"]]
    assert all(t.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Madrid")).hour == 6 for t in firsts)
    paused = api.post("/api/v1/jobs/morning-dashboard/schedule/pause").json()
    assert paused["paused"] is True and paused["next"] == [] and paused["description"].endswith("(paused)")
    resumed = api.post("/api/v1/jobs/morning-dashboard/schedule/resume").json()
    assert resumed["paused"] is False and resumed["next"] == schedule["next"]
    listed = {j["name"]: j for j in api.get("/api/v1/jobs").json()["jobs"]}
    assert listed["morning-dashboard"]["schedule"]["cron"] == "0 6 * * *"
    make_job(api, "unscheduled", None)
    response = api.post("/api/v1/jobs/unscheduled/schedule/pause")
    assert response.status_code == 422 and "has no schedule" in response.json()["detail"]
    assert api.post("/api/v1/jobs/nope/schedule/pause").status_code == 404


def test_a_paused_schedule_fires_nothing(api):
    make_job(api, "paused-one", {"cron": "* * * * * *", "paused": True})
    time.sleep(2.2)
    assert ticks(api, "paused-one") == [] and runs_of(api, "paused-one") == []


def test_overlap_skip_never_runs_two_at_once(api):
    make_job(api, "slow-skip", {"cron": "* * * * * *", "overlap": "skip", "catchup": "all"},
             steps=[["sleep", 2.5], ["noop"]], max_concurrent_runs=5)
    wait_for(lambda: [t for t in ticks(api, "slow-skip") if t["outcome"] == "skipped"], timeout=20,
             what="a skipped tick")
    wait_for(lambda: len([t for t in ticks(api, "slow-skip") if t["outcome"] == "queued"]) >= 2, timeout=20,
             what="a second queued tick")
    api.post("/api/v1/jobs/slow-skip/schedule/pause")
    skipped = [t for t in ticks(api, "slow-skip") if t["outcome"] == "skipped"]
    assert "overlap: skip" in skipped[0]["reason"] and skipped[0]["run_id"] is None
    from stoker.store.outbox import head, read_events

    db = api.app.state.services.db
    job_id = api.get("/api/v1/jobs/slow-skip").json()["id"]
    events = [e for e in read_events(db, 0, head(db), limit=1000, job_ids=[job_id]) if e.event == "schedule.skipped"]
    assert len(events) == len(skipped) and "overlap: skip" in events[0].payload["reason"]
    runs = [wait_for_state(api, r["id"]) for r in runs_of(api, "slow-skip")]
    spans = sorted((r["started_at"], r["finished_at"]) for r in runs)
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))  # one at a time


def test_overlap_cancel_previous_cancels_the_run_that_outlasts_its_interval(api):
    make_job(api, "slow-cancel", {"cron": "*/2 * * * * *", "overlap": "cancel_previous"},
             steps=[["sleep", 30], ["noop"]], max_concurrent_runs=2)
    wait_for(lambda: len(runs_of(api, "slow-cancel")) >= 2, timeout=20, what="the second tick's run")
    api.post("/api/v1/jobs/slow-cancel/schedule/pause")
    oldest = sorted(runs_of(api, "slow-cancel"), key=lambda r: r["scheduled_for"])[0]
    assert wait_for_state(api, oldest["id"], timeout=30)["state"] == "CANCELLED"
    for run in runs_of(api, "slow-cancel"):
        api.post(f"/api/v1/runs/{run['id']}/cancel")


def test_overlap_queue_queues_behind_the_running_one(api):
    make_job(api, "slow-queue", {"cron": "* * * * * *", "overlap": "queue"}, steps=[["sleep", 3], ["noop"]])
    wait_for(lambda: any(r["state"] == "QUEUED" for r in runs_of(api, "slow-queue")) and
             any(r["state"] == "RUNNING" for r in runs_of(api, "slow-queue")), timeout=20,
             what="a run queued behind a running one")
    api.post("/api/v1/jobs/slow-queue/schedule/pause")
    assert all(t["outcome"] == "queued" for t in ticks(api, "slow-queue"))
    for run in runs_of(api, "slow-queue"):
        api.post(f"/api/v1/runs/{run['id']}/cancel")


def test_backfill_makes_one_run_per_tick_once(api):
    make_job(api, "daily-report", {"cron": "0 6 * * *", "timezone": "Europe/Madrid"},
             steps=[["fail", "partition {{ interval_start_date }} to {{ scheduled_date }}"]], max_attempts=1)
    body = {"start": "2026-11-01T00:00:00", "end": "2026-11-03T23:59:59"}
    dry = api.post("/api/v1/jobs/daily-report/backfill", json={**body, "dry_run": True}).json()
    assert [t["tick"] for t in dry["ticks"]] == ["2026-11-01T05:00:00Z", "2026-11-02T05:00:00Z",
                                                 "2026-11-03T05:00:00Z"]
    assert runs_of(api, "daily-report") == []
    first = api.post("/api/v1/jobs/daily-report/backfill", json=body).json()
    assert [t["outcome"] for t in first["ticks"]] == ["queued"] * 3
    again = api.post("/api/v1/jobs/daily-report/backfill", json=body).json()
    assert [t["run_id"] for t in again["ticks"]] == [t["run_id"] for t in first["ticks"]]
    assert len(runs_of(api, "daily-report")) == 3
    run = wait_for_state(api, first["ticks"][1]["run_id"])
    assert run["trigger"] == "backfill" and run["scheduled_for"] == "2026-11-02T05:00:00Z"
    assert run["steps"] == [["fail", "partition 2026-11-01 to 2026-11-02"]]  # the tick's dates, filled in
    assert "partition 2026-11-01 to 2026-11-02" in run["error"]
    for bad, says in [({"start": "yesterday", "end": "2026-11-03T00:00:00Z"}, "not an ISO 8601 time"),
                      ({"start": "2026-11-03T00:00:00Z", "end": "2026-11-01T00:00:00Z"}, "before"),
                      ({"start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "more than 1000 ticks")]:
        response = api.post("/api/v1/jobs/daily-report/backfill", json=bad)
        assert response.status_code == 422 and says in response.json()["detail"], response.text
    assert len(runs_of(api, "daily-report")) == 3


# --- a controlled clock: catch-up after downtime, daylight-saving days -----------------------------

class Clock:
    def __init__(self, at: datetime) -> None:
        self.now = at.timestamp()

    def __call__(self) -> float:
        return self.now

    def at(self, moment: datetime) -> None:
        self.now = moment.timestamp()


@pytest.fixture
def clocked(database, tmp_path):
    """A schedule service with a clock the test moves (no loop: the test fires)."""
    services = make_services(tmp_path / "data", str(database.url))
    clock = Clock(datetime(2026, 12, 1, 0, 0, 30, tzinfo=UTC))
    service = ScheduleService(ScheduleStore(services.db, services.runs, clock), Submitter(services), clock)
    yield services, service, clock
    services.close()


def scheduled(services, job):
    return sorted(r.scheduled_for for r in services.runs.list(job=job, limit=1000)[0])


@pytest.mark.parametrize(("catchup", "runs", "missed"), [("latest", 1, 1), ("all", 4, 0), ("none", 0, 1)])
def test_catch_up_after_downtime(clocked, catchup, runs, missed):
    services, service, clock = clocked
    job = services.runs.jobs.create(f"hourly-{catchup}", "pipeline", {"steps": [["noop"]]})
    service.set(job, {"cron": "0 * * * *", "catchup": catchup, "overlap": "queue"})
    clock.at(datetime(2026, 12, 1, 4, 30, tzinfo=UTC))  # down from 00:00:30 to 04:30: ticks 01:00 … 04:00
    assert service.fire_due() == runs
    recorded = service.store.ticks(job.id, 50)
    assert len([t for t in recorded if t.outcome == "queued"]) == runs
    assert len([t for t in recorded if t.outcome == "missed"]) == missed
    from stoker.store.metrics import snapshot

    assert snapshot(services.db).missed_ticks.get(f"hourly-{catchup}", 0) == 4 - runs
    from stoker.store.outbox import head, read_events

    events = [e for e in read_events(services.db, 0, head(services.db), limit=100, job_ids=[job.id])
              if e.event.startswith("schedule.")]
    assert [(e.event, e.payload["missed"]) for e in events] == ([("schedule.missed", 4 - runs)] if missed else [])
    assert service.fire_due() == 0  # nothing is owed twice
    clock.at(datetime(2026, 12, 1, 5, 0, 0, tzinfo=UTC))
    assert service.fire_due() == 1  # and the schedule goes on


def test_a_daily_job_fires_once_on_the_short_and_the_long_day(clocked):
    services, service, clock = clocked
    for name, start in [("spring", datetime(2026, 3, 27, tzinfo=UTC)), ("fall", datetime(2026, 10, 23, tzinfo=UTC))]:
        clock.at(start)
        job = services.runs.jobs.create(f"daily-{name}", "pipeline", {"steps": [["noop"]]})
        service.set(job, {"cron": "30 2 * * *", "timezone": "Europe/Madrid", "overlap": "queue"})
        for minutes in range(0, 4 * 24 * 60, 10):  # the scheduler looking every ten minutes, four days
            clock.at(start + timedelta(minutes=minutes))
            service.fire_due()
        days = [datetime.fromtimestamp(t, UTC) for t in scheduled(services, f"daily-{name}")]
        assert len(days) == 4 and len({d.date() for d in days}) == 4, days


def test_a_tick_fires_once_when_two_schedulers_race(clocked):
    services, service, clock = clocked
    other = ScheduleService(ScheduleStore(services.db, services.runs, clock), Submitter(services), clock)
    job = services.runs.jobs.create("raced", "pipeline", {"steps": [["noop"]]})
    service.set(job, {"cron": "*/5 * * * *"})
    clock.at(datetime(2026, 12, 1, 0, 5, 1, tzinfo=UTC))
    # Both read the schedule as due before either fires it, as two replicas would.
    due = service.store.due(clock(), 10)
    jobs = {job.id: job}
    firings = [s._firing(r, jobs[r.job_id], datetime.fromtimestamp(clock(), UTC)) for s in (service, other)
               for r in due]
    first, second = service.store.fire([firings[0]]), other.store.fire([firings[1]])
    assert first[0].fired and not second[0].fired
    assert len(scheduled(services, "raced")) == 1


def test_a_job_whose_steps_no_longer_fill_records_a_refused_tick(clocked):
    services, service, clock = clocked
    job = services.runs.jobs.create("needs-param", "pipeline", {"steps": [["fail", "{{ region }}"]]})
    service.set(job, {"cron": "*/5 * * * *"})
    clock.at(datetime(2026, 12, 1, 0, 5, 1, tzinfo=UTC))
    assert service.fire_due() == 0
    [tick] = service.store.ticks(job.id, 5)
    assert tick.outcome == "refused" and "missing parameter 'region'" in tick.reason
    service.set(job, {"cron": "*/5 * * * *", "params": {"region": "eu"}})
    clock.at(datetime(2026, 12, 1, 0, 10, 1, tzinfo=UTC))
    assert service.fire_due() == 1


def test_parse_refuses_before_anything_is_stored(clocked):
    services, service, _ = clocked
    job = services.runs.jobs.create("strict", "pipeline", {"steps": [["noop"]]})
    with pytest.raises(InvalidInput):
        service.set(job, {"cron": "0 0 30 2 *"})
    assert service.store.get(job.id) is None
